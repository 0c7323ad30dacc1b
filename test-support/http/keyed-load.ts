import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'mysql2/promise';
import { countByUser, findLedgerInconsistencies, readLedger } from '../outcomes/ledger';
import type { Api, SubscriptionBody } from './api';
import { type Answer, isRetryable, isSuccess, sendPurchase, sendStatusChange, tally } from './load';

export type Step = 'purchase' | 'cancel' | 'restart';

/** purchase, then cancel, restart, cancel: each step valid from the one before. */
export const LIFECYCLE: readonly Step[] = ['purchase', 'cancel', 'restart', 'cancel'];

/** One request as the client saw it: every attempt under one Idempotency-Key. */
export interface KeyedRequest {
  kind: Step;
  key: string;
  userId: number;
  /** Which of the load's APIs the client sent it to. */
  api: number;
  /** The subscription a cancel or restart was for. */
  subscriptionId: number | undefined;
  attempts: Answer[];
  /** The last attempt, when it was not one to retry. */
  final: Answer | undefined;
}

export interface KeyedLoadOptions {
  apis: readonly Api[];
  /** Each user goes through `chain` once, taken in order by whichever client is free. */
  users: readonly number[];
  chain?: readonly Step[];
  clientsPerApi: number;
  /** A client's pause between two requests. */
  thinkMs?: number;
  /** The backoff between two attempts of one request (same key), as a patient client would. */
  retryBackoffMs?: number;
  /** A request with no final answer after this long is left without one (the audit names it). */
  giveUpMs?: number;
  /**
   * Whether no answer at all (a refused or reset connection) is retried with the same key, as a
   * client of a producer that restarts would; otherwise it is final.
   */
  retryUnanswered?: boolean;
}

export interface KeyedLoad {
  readonly requests: readonly KeyedRequest[];
  readonly startedAt: number;
  /** Resolves once every user has gone through the chain, or the load was stopped. */
  readonly done: Promise<void>;
  /** No new chains start; resolves once the requests in flight have their final answers. */
  stop(): Promise<void>;
}

/**
 * Clients that drive users through `chain`, one request at a time each, every request under an
 * Idempotency-Key of its own that every retry repeats: 503, 504, a key in flight (and no answer,
 * if asked) are retried until a final answer. A chain stops at its first failed step.
 */
export function startKeyedLoad(options: KeyedLoadOptions): KeyedLoad {
  const {
    apis,
    users,
    chain = LIFECYCLE,
    clientsPerApi,
    thinkMs = 0,
    retryBackoffMs = 250,
    giveUpMs = 45_000,
    retryUnanswered = false,
  } = options;
  const requests: KeyedRequest[] = [];
  let stopping = false;
  let nextUser = 0;

  async function sendUntilFinal(request: KeyedRequest): Promise<void> {
    const api = apis[request.api] as Api;
    const giveUpAt = performance.now() + giveUpMs;
    for (;;) {
      const answer = await sendKeyed(api, request);
      request.attempts.push(answer);
      if ((answer.status === 0 && !retryUnanswered) || !isRetryable(answer)) {
        request.final = answer;
        return;
      }
      if (performance.now() > giveUpAt) return;
      await sleep(Math.min(1_000, (answer.retryAfter ?? 0) * 1_000) || retryBackoffMs);
    }
  }

  async function client(api: number): Promise<void> {
    while (!stopping && nextUser < users.length) {
      const userId = users[nextUser] as number;
      nextUser += 1;
      let subscriptionId: number | undefined;
      for (const kind of chain) {
        if (stopping) break;
        const request: KeyedRequest = {
          kind,
          key: randomUUID(),
          userId,
          api,
          subscriptionId,
          attempts: [],
          final: undefined,
        };
        requests.push(request);
        await sendUntilFinal(request);
        if (!request.final || !isSuccess(request.final)) break;
        if (kind === 'purchase') subscriptionId = (request.final.body as SubscriptionBody).id;
        if (thinkMs > 0) await sleep(thinkMs);
      }
    }
  }

  const startedAt = performance.now();
  const done = Promise.all(
    Array.from({ length: clientsPerApi * apis.length }, (_, index) => client(index % apis.length)),
  ).then(() => undefined);
  return {
    requests,
    startedAt,
    done,
    stop() {
      stopping = true;
      return done;
    },
  };
}

/** The figures a keyed load is judged by. Times in ms, relative to the fault when there is one. */
export interface KeyedLoadFigures {
  keys: number;
  requests: number;
  statuses: Record<string, number>;
  retries: number;
  replays: number;
  /** The longest stretch between two 2xx answers. */
  longestGapMs: number;
  slowestAttemptMs: number;
}

export function measureKeyedLoad(requests: readonly KeyedRequest[]): KeyedLoadFigures {
  const attempts = requests.flatMap((request) => request.attempts);
  const successes = attempts
    .filter(isSuccess)
    .map((answer) => answer.answeredAt)
    .sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let index = 1; index < successes.length; index += 1) {
    longestGapMs = Math.max(
      longestGapMs,
      (successes[index] as number) - (successes[index - 1] as number),
    );
  }
  return {
    keys: requests.length,
    requests: attempts.length,
    statuses: tally(attempts).statuses,
    retries: attempts.length - requests.length,
    replays: attempts.filter((answer) => answer.replayed).length,
    longestGapMs: Math.round(longestGapMs),
    slowestAttemptMs: Math.round(
      attempts.reduce((most, answer) => Math.max(most, answer.answeredAt - answer.sentAt), 0),
    ),
  };
}

/** When the first 2xx came for a request sent at or after `from` (a `performance.now()`). */
export function firstSuccessAfter(requests: readonly KeyedRequest[], from: number): number {
  const first = requests
    .flatMap((request) => request.attempts)
    .filter((answer) => isSuccess(answer) && answer.sentAt >= from)
    .reduce((earliest, answer) => Math.min(earliest, answer.answeredAt), Number.POSITIVE_INFINITY);
  return Math.round(first - from);
}

/** A keyed load's figures around a fault that began at `faultAt` and ended at `faultEndedAt`. */
export interface FaultedLoadFigures extends KeyedLoadFigures {
  firstSuccessAfterFaultMs: number;
  faultMs: number;
}

export function measureFaultedLoad(run: {
  requests: readonly KeyedRequest[];
  faultAt: number;
  faultEndedAt: number;
}): FaultedLoadFigures {
  return {
    ...measureKeyedLoad(run.requests),
    firstSuccessAfterFaultMs: firstSuccessAfter(run.requests, run.faultAt),
    faultMs: Math.round(run.faultEndedAt - run.faultAt),
  };
}

/** The figures of a faulted load as the printed figure lines name them, in their order. */
export function faultedLoadFields(figures: FaultedLoadFigures): Record<string, unknown> {
  return {
    requests: figures.requests,
    keys: figures.keys,
    statuses: figures.statuses,
    retries: figures.retries,
    replays: figures.replays,
    longest_gap_ms: figures.longestGapMs,
    first_2xx_after_fault_ms: figures.firstSuccessAfterFaultMs,
    slowest_attempt_ms: figures.slowestAttemptMs,
    fault_ms: figures.faultMs,
  };
}

function describe(request: KeyedRequest): string {
  return `${request.kind} of user ${request.userId} (key ${request.key})`;
}

/**
 * What the rows say against what the clients were told, as readable lines (empty when all is
 * well): every key ended 2xx and was applied once, every 2xx is backed by its row and its
 * history, nothing doubled, no status but 2xx, 409, 503 and 504 (and no answer, where the load
 * retried it). `pool` reads the database the load wrote to; only the subscriptions of the
 * load's users are audited, so the users must be its own.
 */
export async function auditKeyedLoad(
  pool: Pool,
  requests: readonly KeyedRequest[],
): Promise<string[]> {
  const problems: string[] = [];
  const users = new Set(requests.map((request) => request.userId));
  const ledger = new Map(
    [...(await readLedger(pool))].filter(([, entry]) => users.has(entry.userId)),
  );
  problems.push(...findLedgerInconsistencies(ledger));
  const perUser = countByUser(ledger);
  const changesBySubscription = new Map<number, number>();
  let purchases = 0;
  for (const request of requests) {
    for (const answer of request.attempts) {
      if (!isSuccess(answer) && ![0, 409, 503, 504].includes(answer.status)) {
        problems.push(`${describe(request)}: answered ${answer.status} ${answer.code ?? ''}`);
      }
    }
    const { final } = request;
    if (!final || !isSuccess(final)) {
      const last = request.attempts.at(-1);
      problems.push(
        `${describe(request)}: no 2xx after ${request.attempts.length} attempts, last ` +
          `${last?.status} ${last?.code ?? ''}`,
      );
      continue;
    }
    const body = final.body as SubscriptionBody;
    const entry = ledger.get(body.id);
    if (!entry || entry.userId !== request.userId) {
      problems.push(
        `${describe(request)}: answered ${final.status} for subscription ${body.id}, no such row`,
      );
      continue;
    }
    if (request.kind === 'purchase') {
      purchases += 1;
      if (final.status !== 201) problems.push(`${describe(request)}: answered ${final.status}`);
      if (perUser.get(request.userId) !== 1) {
        problems.push(`${describe(request)}: ${perUser.get(request.userId)} subscriptions`);
      }
    } else {
      const expected = request.kind === 'cancel' ? 'CANCELED' : 'ACTIVE';
      if (final.status !== 200 || body.status !== expected) {
        problems.push(`${describe(request)}: answered ${final.status} ${body.status}`);
      }
      changesBySubscription.set(body.id, (changesBySubscription.get(body.id) ?? 0) + 1);
    }
  }
  if (ledger.size !== purchases) {
    problems.push(`${ledger.size} subscriptions for ${purchases} purchases answered 201`);
  }
  for (const entry of ledger.values()) {
    const answered = changesBySubscription.get(entry.id) ?? 0;
    if (entry.version !== answered) {
      problems.push(
        `subscription ${entry.id}: ${entry.version} changes applied, ${answered} answered 200`,
      );
    }
  }
  return problems;
}

/** Sends a keyed request's command (again) with its Idempotency-Key. */
export function sendKeyed(api: Api, request: KeyedRequest): Promise<Answer> {
  return request.kind === 'purchase'
    ? sendPurchase(api, request.userId, request.key)
    : sendStatusChange(api, request.subscriptionId as number, request.kind, request.key);
}
