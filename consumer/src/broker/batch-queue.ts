export interface BatchOptions {
  /** Most commands in one transaction. */
  maxBatch: number;
  /** Most transactions at once (keep within the database pool). */
  maxConcurrentBatches: number;
}

export const DEFAULT_BATCHING: BatchOptions = { maxBatch: 64, maxConcurrentBatches: 4 };

export interface BatchQueue<T> {
  /** Queues an item for the next batch. */
  push(item: T): void;
}

/**
 * Group commit: everything pushed in one turn of the event loop forms one batch, of `maxBatch`
 * at most. While `maxConcurrentBatches` batches run, new items wait and form the next one, so
 * batches grow with the load and a lone item is not delayed. `run` settles its own failures:
 * it must not reject.
 */
export function createBatchQueue<T>(
  options: BatchOptions,
  run: (batch: T[]) => Promise<void>,
): BatchQueue<T> {
  const { maxBatch, maxConcurrentBatches } = options;
  const waiting: T[] = [];
  let running = 0;
  let flushScheduled = false;

  function flush(): void {
    flushScheduled = false;
    while (waiting.length > 0 && running < maxConcurrentBatches) {
      const batch = waiting.splice(0, maxBatch);
      running += 1;
      void run(batch).finally(() => {
        running -= 1;
        if (waiting.length > 0) scheduleFlush();
      });
    }
  }

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  return {
    push(item) {
      waiting.push(item);
      scheduleFlush();
    },
  };
}
