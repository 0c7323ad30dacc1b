export interface BatchOptions {
  /** Most commands in one transaction. */
  maxBatch: number;
  /** Most transactions at once (keep within the database pool). */
  maxConcurrentBatches: number;
  /** Longest a batch waits for more commands to join it (see `createBatchQueue`). */
  maxLingerMs: number;
}

export const DEFAULT_BATCHING: BatchOptions = {
  maxBatch: 64,
  maxConcurrentBatches: 4,
  maxLingerMs: 20,
};

export interface BatchQueue<T> {
  /** Queues an item for the next batch. */
  push(item: T): void;
}

/** Weight of the newest batch in the running average of batch durations. */
const SMOOTHING = 0.2;

/**
 * Group commit, sized to the database's speed. Everything pushed while no batch can start forms
 * the next batch, `maxBatch` at most, so batches grow with the load and a lone item is not
 * delayed. A further batch starts beside running ones only when a full batch is waiting: on a
 * database that is the bottleneck, fewer and larger transactions do the same work for less
 * (each transaction costs a fixed amount besides its rows). And when commands come together
 * (the last batch held more than one), a batch that could start waits for more to join it, for
 * at most as long as recent batches took and `maxLingerMs`: against a slow database that
 * gathers much larger batches at little cost, against a fast one it waits next to nothing.
 * `run` settles its own failures: it must not reject.
 */
export function createBatchQueue<T>(
  options: BatchOptions,
  run: (batch: T[]) => Promise<void>,
  now: () => number = () => performance.now(),
): BatchQueue<T> {
  const { maxBatch, maxConcurrentBatches, maxLingerMs } = options;
  const waiting: T[] = [];
  let running = 0;
  let flushScheduled = false;
  let lingering: NodeJS.Timeout | undefined;
  /** Running average of how long a batch takes, ms; 0 until one has run. */
  let averageMs = 0;
  let lastSize = 0;

  function start(): void {
    const batch = waiting.splice(0, maxBatch);
    const started = now();
    running += 1;
    lastSize = batch.length;
    void run(batch).finally(() => {
      running -= 1;
      const took = now() - started;
      averageMs = averageMs === 0 ? took : averageMs + SMOOTHING * (took - averageMs);
      if (waiting.length > 0) scheduleFlush();
    });
  }

  function flush(): void {
    flushScheduled = false;
    while (waiting.length >= maxBatch && running < maxConcurrentBatches) start();
    if (waiting.length === 0 || running > 0 || lingering) return;
    const linger = lastSize > 1 ? Math.min(maxLingerMs, averageMs) : 0;
    if (linger < 1) {
      start();
      return;
    }
    lingering = setTimeout(() => {
      lingering = undefined;
      if (waiting.length > 0 && running === 0) start();
      else if (waiting.length > 0) scheduleFlush();
    }, linger);
  }

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  return {
    push(item) {
      waiting.push(item);
      // A full batch need not wait any longer.
      if (lingering && waiting.length >= maxBatch) {
        clearTimeout(lingering);
        lingering = undefined;
      }
      scheduleFlush();
    },
  };
}
