import type { Logger } from 'pino';
import type { SubscriptionRepository } from './repository';

/** How often expired command records and keys are deleted, and how many per statement. */
const PURGE_INTERVAL_MS = 10 * 60_000;
const PURGE_BATCH = 5_000;

/**
 * Deletes every command record and Idempotency-Key of commands accepted before `before`, in
 * statements of `PURGE_BATCH` rows so that none holds locks for long; resolves how many. The
 * records are in time order, so each statement takes rows from the start of the primary key,
 * away from the end where new records go.
 */
export async function purgeExpired(
  repository: Pick<SubscriptionRepository, 'purgeRecordsBefore'>,
  before: Date,
): Promise<number> {
  let deleted = 0;
  for (let batch = PURGE_BATCH; batch >= PURGE_BATCH; deleted += batch) {
    batch = await repository.purgeRecordsBefore(before, PURGE_BATCH);
  }
  return deleted;
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
