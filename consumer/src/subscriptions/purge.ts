import type { Logger } from 'pino';
import type { SubscriptionRepository } from '@subscriptions/store';

/** How often expired command records and keys are deleted, and how many per statement. */
const PURGE_INTERVAL_MS = 10 * 60_000;
const PURGE_BATCH = 500;
/**
 * After each statement the purge rests this many times as long as the statement took: it uses
 * the database a fifth of the time at most, and the commands being applied meanwhile the rest.
 */
const REST_FACTOR = 4;

/**
 * Deletes every command record and Idempotency-Key of commands accepted before `before`, in
 * statements of `PURGE_BATCH` rows so that none holds locks for long, resting between them
 * (`REST_FACTOR`); resolves how many. The records are in time order, so each statement takes rows
 * from the start of the primary key, away from the end where new records go.
 */
export async function purgeExpired(
  repository: Pick<SubscriptionRepository, 'purgeRecordsBefore'>,
  before: Date,
  rest: (ms: number) => Promise<void> = (ms) =>
    new Promise((resolve) => setTimeout(resolve, ms).unref()),
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const started = performance.now();
    const batch = await repository.purgeRecordsBefore(before, PURGE_BATCH);
    deleted += batch;
    if (batch < PURGE_BATCH) return deleted;
    await rest((performance.now() - started) * REST_FACTOR);
  }
}

/**
 * Runs `purgeExpired` for the retention every ten minutes. Every consumer runs it; the deletes
 * are idempotent.
 */
export function schedulePurge(deps: {
  repository: SubscriptionRepository;
  retentionMs: number;
  logger: Logger;
}): { stop(): void } {
  const { repository, retentionMs, logger } = deps;
  async function purge(): Promise<void> {
    const before = new Date(Date.now() - retentionMs);
    const deleted = await purgeExpired(repository, before);
    if (deleted > 0) logger.info({ deleted, before }, 'expired command records purged');
  }
  const timer = setInterval(() => {
    purge().catch((error: unknown) => logger.warn({ err: error }, 'purge failed; will retry'));
  }, PURGE_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
