import type { Logger } from 'pino';
import type { SubscriptionRepository } from './repository';

/** How often expired command records and keys are deleted, and how many per statement. */
const PURGE_INTERVAL_MS = 10 * 60_000;
const PURGE_BATCH = 5_000;

/**
 * Deletes command records and Idempotency-Keys older than the retention, in small batches so no statement
 * holds locks for long. Every consumer runs it; the deletes are idempotent.
 */
export function schedulePurge(deps: {
  repository: SubscriptionRepository;
  retentionMs: number;
  logger: Logger;
}): { stop(): void } {
  const { repository, retentionMs, logger } = deps;
  async function purge(): Promise<void> {
    const before = new Date(Date.now() - retentionMs);
    let deleted = 0;
    for (let batch = PURGE_BATCH; batch >= PURGE_BATCH; deleted += batch) {
      batch = await repository.purgeRecordsBefore(before, PURGE_BATCH);
    }
    if (deleted > 0) logger.info({ deleted, before }, 'expired command records purged');
  }
  const timer = setInterval(() => {
    purge().catch((error: unknown) => logger.warn({ err: error }, 'purge failed; will retry'));
  }, PURGE_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
