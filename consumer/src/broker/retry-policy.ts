import type { Reply } from '@subscriptions/contracts';
import type { BatchItem, BatchOutcome } from '../subscriptions/apply-command';

const FIRST_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 2_000;

/**
 * Until when a command is worth retrying: its deadline, or for good when it has none (an
 * asynchronous command waits for the database however long it is away).
 */
export function retryUntil(deadline: number | undefined): number {
  return deadline ?? Number.POSITIVE_INFINITY;
}

/**
 * Whether a command is out of time at `at`: the one rule for both ends of a command given up
 * unapplied. The listener gives a command up for lack of time only once this holds, and the
 * unapplied recorder records a dead letter as `command_expired` when it held when it died.
 */
export function isPastDeadline(deadline: number, at: number): boolean {
  return at >= deadline;
}

/** The wait after failed attempt number `attempt` (from 1): 100 ms, doubling, 2 s at most. */
export function retryDelayMs(attempt: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1));
}

/** A command in hand, with the time after which retrying it is pointless. */
export interface RetryItem extends BatchItem {
  retryUntil: number;
}

/** How each command of a batch ends, and what is said while it is retried. */
export interface Settlement<T> {
  answered(item: T, reply: Reply): void;
  /** The database stayed away past the command's time (or the consumer is stopping). */
  gaveUp(item: T): void;
  /** It failed alone, for a reason a retry cannot fix. */
  failed(item: T, error: unknown): void;
  retrying(items: readonly T[], attempt: number, delayMs: number, error: unknown): void;
}

/**
 * Runs one batch until each of its commands is settled:
 * - a command whose time is up before an attempt starts is given up, never started;
 * - committed: every command is answered;
 * - a transient failure is retried with backoff, each command until its deadline (the backoff is
 *   cut short at the earliest deadline, so a command is given up as it passes), and not at all
 *   once the consumer is stopping;
 * - any other failure splits the batch, so a bad command cannot sink its neighbours: alone, it
 *   has failed, and is never retried in a loop.
 */
export async function runWithRetries<T extends RetryItem>(
  batch: T[],
  deps: {
    /** Applies the commands in hand, handed over as they are (an ExecuteBatch takes them too). */
    execute: (items: readonly T[]) => Promise<BatchOutcome>;
    settle: Settlement<T>;
    now: () => number;
    isStopping: () => boolean;
  },
): Promise<void> {
  const { execute, settle, now, isStopping } = deps;
  let live = batch;
  for (let attempt = 1; live.length > 0; attempt += 1) {
    // Past its time a command is not started, however long it waited for a batch to run.
    const started = now();
    live = live.filter((item) => {
      if (!isPastDeadline(item.retryUntil, started)) return true;
      settle.gaveUp(item);
      return false;
    });
    if (live.length === 0) return;
    const outcome = await execute(live)
      // An executor that throws is a bug: its commands fail rather than wait forever.
      .catch((error: unknown): BatchOutcome => ({ kind: 'failed', error }));
    if (outcome.kind === 'committed') {
      live.forEach((item, index) => settle.answered(item, outcome.replies[index] as Reply));
      return;
    }
    if (outcome.kind === 'failed') {
      if (live.length === 1) {
        settle.failed(live[0] as T, outcome.error);
        return;
      }
      for (const item of live) await runWithRetries([item], deps);
      return;
    }
    if (isStopping()) {
      for (const item of live) settle.gaveUp(item);
      return;
    }
    // Cut short at the earliest deadline: a command is given up as it passes, not a backoff later.
    const timeLeft = Math.min(...live.map((item) => item.retryUntil)) - now();
    const delay = Math.max(0, Math.min(retryDelayMs(attempt), timeLeft));
    settle.retrying(live, attempt, delay, outcome.error);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
