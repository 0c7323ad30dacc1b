import { performance } from 'node:perf_hooks';
import { expect } from '@jest/globals';
import type { Api, ApiResponse, SubscriptionBody } from './api';
import { runConcurrently } from './load';

/** A command resource (RFC 7240 asynchronous requests), as a 202 and `GET /api/v1/commands/{id}` carry it. */
export interface CommandBody {
  id: string;
  type: 'purchase' | 'cancel' | 'restart';
  state: 'pending' | 'completed';
  /** What the synchronous call would have answered, once completed. */
  response: { status: number; body: unknown } | null;
  accepted_at: string;
  completed_at: string | null;
}

export const COMMANDS_PATH = '/api/v1/commands';

/** `Prefer` asking for a 202 as soon as the broker confirms the command. */
export const RESPOND_ASYNC = 'respond-async';

/** `Prefer` asking to wait up to `seconds` for the outcome before a 202. */
export const preferWait = (seconds: number): string => `wait=${seconds}`;

/** The seconds a client is told to wait before polling a pending command again. */
const POLL_AFTER_SECONDS = '1';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** `Authorization` for a bearer token, or nothing while auth is off. */
export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** An answer with how long it took, request start to body read (`performance.now()` ms). */
export interface TimedResponse extends ApiResponse {
  latencyMs: number;
}

export interface WriteOptions {
  /** The `Prefer` header; none makes it a synchronous call. */
  prefer?: string;
  token?: string;
  headers?: Record<string, string>;
}

function writeHeaders({ prefer, token, headers = {} }: WriteOptions): Record<string, string> {
  return { ...(prefer === undefined ? {} : { prefer }), ...bearer(token), ...headers };
}

async function timed(send: () => Promise<ApiResponse>): Promise<TimedResponse> {
  const sentAt = performance.now();
  const response = await send();
  return { ...response, latencyMs: performance.now() - sentAt };
}

/** `POST /api/v1/subscriptions` for `userId`, timed. */
export function submitPurchase(api: Api, userId: number, options: WriteOptions = {}) {
  return timed(() => api.purchase({ user_id: userId }, writeHeaders(options)));
}

/** `PUT /api/v1/subscriptions/{id}/status`, timed. */
export function submitStatusChange(
  api: Api,
  subscriptionId: number,
  change: 'cancel' | 'restart',
  options: WriteOptions = {},
) {
  const json = change === 'cancel' ? { canceled: true } : { restarted: true };
  return timed(() =>
    api.send('PUT', `/api/v1/subscriptions/${subscriptionId}/status`, {
      json,
      headers: writeHeaders(options),
    }),
  );
}

/** `GET` of a command by its id or its `Location`. */
export function readCommand(api: Api, idOrLocation: string, token?: string): Promise<ApiResponse> {
  const path = idOrLocation.startsWith('/') ? idOrLocation : `${COMMANDS_PATH}/${idOrLocation}`;
  return api.send('GET', path, { headers: bearer(token) });
}

/**
 * Asserts a 202 for a command of `type` accepted asynchronously, with every header RFC 7240 and
 * the contract name, and returns the pending command.
 */
export function expectAccepted(response: ApiResponse, type: CommandBody['type']): CommandBody {
  // Status and body together, so a wrong status shows the problem the API answered with.
  expect({ status: response.status, body: response.body }).toEqual({
    status: 202,
    body: {
      id: expect.any(String),
      type,
      state: 'pending',
      response: null,
      accepted_at: expect.stringMatching(ISO_UTC),
      completed_at: null,
    },
  });
  const command = response.body as CommandBody;
  expect({
    location: response.headers.get('location'),
    preferenceApplied: response.headers.get('preference-applied'),
    retryAfter: response.headers.get('retry-after'),
  }).toEqual({
    location: `${COMMANDS_PATH}/${command.id}`,
    preferenceApplied: 'respond-async',
    retryAfter: POLL_AFTER_SECONDS,
  });
  return command;
}

/**
 * Asserts a 200 carrying command `id` in a state that agrees with itself (a pending one with
 * `Retry-After`, a completed one with its response and completion time), and returns it.
 */
export function expectCommand(response: ApiResponse, id: string): CommandBody {
  expect({ status: response.status, body: response.body }).toEqual({
    status: 200,
    body: expect.objectContaining({ id, accepted_at: expect.stringMatching(ISO_UTC) }),
  });
  const command = response.body as CommandBody;
  if (command.state === 'pending') {
    expect({ response: command.response, completed_at: command.completed_at }).toEqual({
      response: null,
      completed_at: null,
    });
    expect(response.headers.get('retry-after')).toBe(POLL_AFTER_SECONDS);
  } else {
    expect(command).toEqual(
      expect.objectContaining({
        state: 'completed',
        response: { status: expect.any(Number), body: expect.anything() },
        completed_at: expect.stringMatching(ISO_UTC),
      }),
    );
    expect(response.headers.get('retry-after')).toBeNull();
  }
  return command;
}

/** Asserts that a completed command applied a purchase for `userId`, and returns the subscription. */
export function expectPurchased(command: CommandBody, userId: number): SubscriptionBody {
  expect({ state: command.state, response: command.response }).toEqual({
    state: 'completed',
    response: {
      status: 201,
      body: expect.objectContaining({ id: expect.any(Number), user_id: userId, status: 'ACTIVE' }),
    },
  });
  return (command.response as { body: SubscriptionBody }).body;
}

/** Asserts that a completed command ended in the problem `status`/`code`, and returns its body. */
export function expectCompletedWithProblem(
  command: CommandBody,
  status: number,
  code: string,
): Record<string, unknown> {
  expect({ state: command.state, response: command.response }).toEqual({
    state: 'completed',
    response: {
      status,
      body: expect.objectContaining({
        type: `urn:subscriptions:problem:${code}`,
        status,
        code,
        title: expect.any(String),
        detail: expect.any(String),
      }),
    },
  });
  const body = (command.response as { body: Record<string, unknown> }).body;
  expect(body).not.toHaveProperty('stack');
  return body;
}

export interface PollOptions {
  token?: string;
  timeoutMs: number;
  /** Between two reads of the same command; the contract's Retry-After is 1 s, a test is busier. */
  intervalMs?: number;
}

/** Reads command `id` until it is completed; fails naming it and its last state after `timeoutMs`. */
export async function waitForCompletion(
  api: Api,
  id: string,
  options: PollOptions,
): Promise<CommandBody> {
  const { commands } = await waitForAllCompleted(api, [id], options);
  return commands.get(id) as CommandBody;
}

/**
 * Reads every command of `ids` (`concurrency` reads at once) until each is completed, and returns
 * them by id, with `drainedAt`: the `performance.now()` once the last one read completed.
 * Only the still-pending ones are read again, every `intervalMs`.
 */
export async function waitForAllCompleted(
  api: Api,
  ids: readonly string[],
  options: PollOptions & { concurrency?: number },
): Promise<{ commands: Map<string, CommandBody>; drainedAt: number }> {
  const { token, timeoutMs, intervalMs = 50, concurrency = 20 } = options;
  const deadline = performance.now() + timeoutMs;
  const completed = new Map<string, CommandBody>();
  let pending = [...ids];
  let last: CommandBody | undefined;
  for (;;) {
    const read = await runConcurrently(pending.length, concurrency, async (index) => {
      const id = pending[index] as string;
      return expectCommand(await readCommand(api, id, token), id);
    });
    for (const command of read) {
      if (command.state === 'completed') completed.set(command.id, command);
      else last = command;
    }
    pending = pending.filter((id) => !completed.has(id));
    if (pending.length === 0) return { commands: completed, drainedAt: performance.now() };
    if (performance.now() > deadline) {
      throw new Error(
        `${pending.length} of ${ids.length} commands still pending after ${timeoutMs} ms, ` +
          `e.g. ${JSON.stringify(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The value below which `fraction` of `values` lie (nearest rank), to a tenth. */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, index)] ?? Number.NaN) * 10) / 10;
}
