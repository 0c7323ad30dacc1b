import { performance } from 'node:perf_hooks';
import { type Api, SUBSCRIPTIONS_PATH } from './api';

/** One HTTP attempt and what came of it. Times are `performance.now()` milliseconds. */
export interface Answer {
  /** The HTTP status; 0 when no answer came (connection refused or reset). */
  status: number;
  /** The problem's `code`, or the socket error's code when no answer came. */
  code: string | undefined;
  body: unknown;
  /** `Idempotent-Replayed: true` was on the answer. */
  replayed: boolean;
  /** Seconds the answer asked the client to wait before retrying, if any. */
  retryAfter: number | undefined;
  sentAt: number;
  answeredAt: number;
}

export type StatusChange = 'cancel' | 'restart';

/** Sends one request and records the answer; a request that got none is an answer with status 0. */
async function attempt(
  api: Api,
  method: string,
  path: string,
  json: unknown,
  idempotencyKey: string | undefined,
): Promise<Answer> {
  const sentAt = performance.now();
  const headers = idempotencyKey === undefined ? undefined : { 'idempotency-key': idempotencyKey };
  try {
    const response = await api.send(method, path, { json, headers });
    const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
    return {
      status: response.status,
      code: codeOf(response.body),
      body: response.body,
      replayed: response.headers.get('idempotent-replayed') === 'true',
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      sentAt,
      answeredAt: performance.now(),
    };
  } catch (error) {
    return {
      status: 0,
      code: socketErrorCode(error),
      body: undefined,
      replayed: false,
      retryAfter: undefined,
      sentAt,
      answeredAt: performance.now(),
    };
  }
}

function codeOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('code' in body)) return undefined;
  return typeof body.code === 'string' ? body.code : undefined;
}

/** fetch wraps the socket's error in `cause`. */
function socketErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : 'no_answer';
}

export function sendPurchase(api: Api, userId: number, idempotencyKey?: string): Promise<Answer> {
  return attempt(api, 'POST', SUBSCRIPTIONS_PATH, { user_id: userId }, idempotencyKey);
}

export function sendStatusChange(
  api: Api,
  subscriptionId: number,
  change: StatusChange,
  idempotencyKey?: string,
): Promise<Answer> {
  const body = change === 'cancel' ? { canceled: true } : { restarted: true };
  return attempt(
    api,
    'PUT',
    `${SUBSCRIPTIONS_PATH}/${subscriptionId}/status`,
    body,
    idempotencyKey,
  );
}

export const isSuccess = (answer: Answer): boolean => answer.status >= 200 && answer.status < 300;

/**
 * Repeats `send` (same key, same body) while the answer says the outcome is unknown or the
 * command was not accepted: 503, 504, a 409 for a key still in flight, or no answer at all.
 * Waits what Retry-After asks, capped so that a test stays short. Returns every attempt.
 */
export async function sendWithRetries(
  send: () => Promise<Answer>,
  options: { maxAttempts: number; maxWaitMs?: number },
): Promise<Answer[]> {
  const { maxAttempts, maxWaitMs = 500 } = options;
  const answers: Answer[] = [];
  for (let count = 1; count <= maxAttempts; count += 1) {
    const answer = await send();
    answers.push(answer);
    if (!isRetryable(answer) || count === maxAttempts) break;
    const waitMs = Math.min(maxWaitMs, (answer.retryAfter ?? 0) * 1_000 || 100 * count);
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
  return answers;
}

export function isRetryable(answer: Answer): boolean {
  return (
    answer.status === 0 ||
    answer.status === 503 ||
    answer.status === 504 ||
    (answer.status === 409 && answer.code === 'idempotency_key_in_flight')
  );
}

/** Runs `task(0..count-1)` with at most `concurrency` at once; results in index order. */
export async function runConcurrently<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await task(index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/**
 * Starts `task(i)` every `intervalMs` whatever the earlier ones are doing (a steady arrival
 * rate, as real clients keep coming during an outage); resolves once all have finished.
 */
export async function runPaced<T>(
  count: number,
  intervalMs: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const start = performance.now();
  const running: Promise<T>[] = [];
  for (let index = 0; index < count; index += 1) {
    const due = start + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    running.push(task(index));
  }
  return Promise.all(running);
}

/** How many answers had each status, e.g. `{ '201': 180, '504': 20 }`, and each problem code. */
export function tally(answers: readonly Answer[]): {
  statuses: Record<string, number>;
  codes: Record<string, number>;
} {
  const statuses: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const answer of answers) {
    const status = String(answer.status);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (answer.code !== undefined) codes[answer.code] = (codes[answer.code] ?? 0) + 1;
  }
  return { statuses, codes };
}

/** Prints the figures a fault test measured, one line, so that a run can be quoted. */
export function printFigures(scenario: string, figures: Record<string, unknown>): void {
  const parts = Object.entries(figures).map(([name, value]) => `${name}=${formatFigure(value)}`);
  console.log(`[fault figures] ${scenario}: ${parts.join(' ')}`);
}

/** A count or a name as it is; a breakdown (an object, a list) as JSON. */
function formatFigure(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'undefined':
      return String(value);
    default:
      return JSON.stringify(value);
  }
}
