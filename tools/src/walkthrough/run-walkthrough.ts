/**
 * Drives one subscription through purchase, cancel, restart, cancel and one refused change
 * over HTTP, printing every exchange, then checks the history; last, one purchase sent
 * asynchronously (`Prefer: respond-async`), its command polled until it completes. Used by
 * `npm run lifecycle`.
 */

/** How long the asynchronous purchase may stay pending before the walkthrough gives up on it. */
const POLL_FOR_MS = 30_000;

export interface WalkthroughOptions {
  baseUrl: string;
  userId: number;
  /** Sent as `Authorization: Bearer ...` when auth is on. */
  token?: string | undefined;
  print: (line: string) => void;
}

interface Step {
  title: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  expectStatus: number;
  /** What the answer's body must contain; returns a list of mismatches. */
  check?: (body: Record<string, unknown>) => string[];
}

/** Mismatches between `actual[key]` and `expected[key]` for each key of `expected`. */
function differences(actual: Record<string, unknown>, expected: Record<string, unknown>): string[] {
  return Object.entries(expected).flatMap(([key, value]) =>
    actual[key] === value
      ? []
      : [`${key} is ${JSON.stringify(actual[key])}, expected ${JSON.stringify(value)}`],
  );
}

/** Resolves true when every answer matched the contract. */
export async function runWalkthrough(options: WalkthroughOptions): Promise<boolean> {
  const { baseUrl, userId, token, print } = options;
  const failures: string[] = [];

  async function exchange(step: Step): Promise<{ body: Record<string, unknown>; res: Response }> {
    print(`\n== ${step.title}`);
    for (const [name, value] of Object.entries(step.headers ?? {})) print(`> ${name}: ${value}`);
    print(`> ${step.method} ${step.path}${step.body ? ` ${JSON.stringify(step.body)}` : ''}`);
    const headers: Record<string, string> = { Accept: 'application/json', ...step.headers };
    if (step.body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers['Authorization'] = `Bearer ${token}`;
    const res = await fetch(new URL(step.path, baseUrl), {
      method: step.method,
      headers,
      ...(step.body === undefined ? {} : { body: JSON.stringify(step.body) }),
    });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = {};
    }
    print(`< ${res.status} ${res.statusText}`);
    print(text ? JSON.stringify(body, null, 2).replace(/^/gm, '  ') : '  (no body)');
    const problems = [
      ...(res.status === step.expectStatus
        ? []
        : [`status is ${res.status}, expected ${step.expectStatus}`]),
      ...(res.status === step.expectStatus && step.check ? step.check(body) : []),
    ];
    for (const problem of problems) {
      print(`  ✗ ${problem}`);
      failures.push(`${step.title}: ${problem}`);
    }
    if (problems.length === 0) print('  ✓ as expected');
    return { body, res };
  }

  const { body: purchased } = await exchange({
    title: `Purchase a subscription for user ${userId}`,
    method: 'POST',
    path: '/api/v1/subscriptions',
    body: { user_id: userId },
    expectStatus: 201,
    check: (body) => differences(body, { user_id: userId, status: 'ACTIVE', updated_at: null }),
  });
  const id = purchased['id'];
  if (typeof id !== 'number') {
    print('\nThe purchase did not create a subscription; nothing more to try.');
    return false;
  }
  const statusPath = `/api/v1/subscriptions/${id}/status`;

  const changes: [string, object, string][] = [
    ['Cancel it', { canceled: true }, 'CANCELED'],
    ['Restart it', { restarted: true }, 'ACTIVE'],
    ['Cancel it again', { canceled: true }, 'CANCELED'],
  ];
  for (const [title, body, status] of changes) {
    await exchange({
      title,
      method: 'PUT',
      path: statusPath,
      body,
      expectStatus: 200,
      check: (answer) => differences(answer, { id, status }),
    });
  }

  await exchange({
    title: 'Cancel a canceled subscription (refused)',
    method: 'PUT',
    path: statusPath,
    body: { canceled: true },
    expectStatus: 409,
    check: (answer) =>
      differences(answer, { code: 'invalid_transition', current_status: 'CANCELED' }),
  });

  const { body: history } = await exchange({
    title: 'Its history',
    method: 'GET',
    path: `/api/v1/subscriptions/${id}/history`,
    expectStatus: 200,
    check: (body) => {
      const types = Array.isArray(body['data'])
        ? body['data'].map((event: { type?: unknown }) => event.type)
        : [];
      const expected = [
        'SUBSCRIPTION_PURCHASED',
        'SUBSCRIPTION_CANCELED',
        'SUBSCRIPTION_RESTARTED',
        'SUBSCRIPTION_CANCELED',
      ];
      return JSON.stringify(types) === JSON.stringify(expected)
        ? []
        : [`events are ${JSON.stringify(types)}, expected ${JSON.stringify(expected)}`];
    },
  });

  print('\n== History of subscription ' + id);
  const events = Array.isArray(history['data']) ? history['data'] : [];
  for (const event of events as { id?: number; type?: string; created_at?: string }[]) {
    print(`  ${event.created_at}  #${event.id}  ${event.type}`);
  }

  await purchaseAsynchronously();

  print(
    failures.length === 0
      ? '\nLifecycle passed: every answer matched the contract.'
      : `\nLifecycle FAILED (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}`,
  );
  return failures.length === 0;

  /** One purchase accepted with 202, then its command read until it has completed. */
  async function purchaseAsynchronously(): Promise<void> {
    const { res } = await exchange({
      title: 'Purchase another, asynchronously: accepted now, applied when the consumer can',
      method: 'POST',
      path: '/api/v1/subscriptions',
      headers: { Prefer: 'respond-async' },
      body: { user_id: userId },
      expectStatus: 202,
      check: (body) => differences(body, { type: 'purchase', state: 'pending', response: null }),
    });
    const location = res.headers.get('location');
    if (res.status !== 202 || !location) return;
    const giveUpAt = Date.now() + POLL_FOR_MS;
    for (let poll = 1; ; poll += 1) {
      const { body, res: polled } = await exchange({
        title: `Poll its command (${poll})`,
        method: 'GET',
        path: location,
        expectStatus: 200,
      });
      if (polled.status !== 200) return;
      if (body['state'] === 'completed') {
        const response = body['response'] as { status?: unknown; body?: unknown } | null;
        const subscription = (response?.body ?? {}) as Record<string, unknown>;
        const problems = [
          ...(response?.status === 201
            ? []
            : [`response status is ${String(response?.status)}, expected 201`]),
          ...differences(subscription, { user_id: userId, status: 'ACTIVE' }),
        ];
        for (const problem of problems) failures.push(`Asynchronous purchase: ${problem}`);
        if (problems.length === 0) print('  ✓ completed: 201, the subscription was created');
        for (const problem of problems) print(`  ✗ ${problem}`);
        return;
      }
      if (Date.now() > giveUpAt) {
        failures.push(`Asynchronous purchase: still pending after ${POLL_FOR_MS / 1000} s`);
        return;
      }
      // The command says when to look again.
      const seconds = Number(polled.headers.get('retry-after') ?? '1');
      await new Promise((resolve) =>
        setTimeout(resolve, (Number.isFinite(seconds) ? seconds : 1) * 1000),
      );
    }
  }
}
