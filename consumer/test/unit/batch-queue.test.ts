import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type BatchOptions, createBatchQueue } from '../../src/broker/batch-queue';

/** A batch runner whose batches end when the test says. */
function heldRunner() {
  const batches: number[][] = [];
  const finish: (() => void)[] = [];
  return {
    batches,
    run: (batch: number[]) => {
      batches.push(batch);
      return new Promise<void>((resolve) => finish.push(resolve));
    },
    /** Ends the oldest running batch. */
    finishOne: () => finish.shift()?.(),
  };
}

describe('batch queue', () => {
  let clock = 0;
  const now = () => clock;
  const options = (overrides: Partial<BatchOptions>): BatchOptions => ({
    maxBatch: 10,
    maxConcurrentBatches: 2,
    maxLingerMs: 20,
    ...overrides,
  });

  beforeEach(() => {
    jest.useFakeTimers();
    clock = 0;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  /** Lets setImmediate callbacks and settled promises run. */
  const turn = async () => {
    await jest.advanceTimersByTimeAsync(0);
  };

  it('starts a lone item at once, and splits what is pushed together into batches of maxBatch', async () => {
    const runner = heldRunner();
    const queue = createBatchQueue<number>(options({ maxBatch: 3 }), runner.run, now);
    queue.push(1);
    await turn();
    expect(runner.batches).toEqual([[1]]);
    for (const n of [2, 3, 4, 5]) queue.push(n);
    await turn();
    // A full batch may run beside the one under way; the rest waits for one to end.
    expect(runner.batches).toEqual([[1], [2, 3, 4]]);
    runner.finishOne();
    runner.finishOne();
    await turn();
    expect(runner.batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('starts no second batch beside a running one unless a full batch waits', async () => {
    const runner = heldRunner();
    const queue = createBatchQueue<number>(options({ maxBatch: 3 }), runner.run, now);
    queue.push(1);
    await turn();
    queue.push(2);
    queue.push(3);
    await turn();
    expect(runner.batches).toEqual([[1]]);
    runner.finishOne();
    await turn();
    expect(runner.batches).toEqual([[1], [2, 3]]);
  });

  it('when commands come together, lets a batch wait for more, as long as recent batches took', async () => {
    const runner = heldRunner();
    const queue = createBatchQueue<number>(options({}), runner.run, now);
    queue.push(1);
    queue.push(2);
    await turn();
    clock += 8; // the first batch took 8 ms
    runner.finishOne();
    queue.push(3);
    await turn();
    // It could start, but the last batch held two: it waits up to 8 ms for company.
    expect(runner.batches).toEqual([[1, 2]]);
    await jest.advanceTimersByTimeAsync(5);
    queue.push(4);
    await jest.advanceTimersByTimeAsync(3);
    expect(runner.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('waits no longer than maxLingerMs, however long batches take', async () => {
    const runner = heldRunner();
    const queue = createBatchQueue<number>(options({ maxLingerMs: 4 }), runner.run, now);
    queue.push(1);
    queue.push(2);
    await turn();
    clock += 50;
    runner.finishOne();
    queue.push(3);
    await jest.advanceTimersByTimeAsync(3);
    expect(runner.batches).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(runner.batches).toEqual([[1, 2], [3]]);
  });

  it('stops waiting as soon as a full batch has gathered', async () => {
    const runner = heldRunner();
    const queue = createBatchQueue<number>(options({ maxBatch: 3 }), runner.run, now);
    queue.push(1);
    queue.push(2);
    await turn();
    clock += 50;
    runner.finishOne();
    queue.push(3);
    await turn();
    expect(runner.batches).toHaveLength(1);
    queue.push(4);
    queue.push(5);
    await turn();
    expect(runner.batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('never waits when the last batch held one command, or with maxLingerMs 0', async () => {
    for (const [first, linger] of [
      [[1], 20],
      [[1, 2], 0],
    ] as const) {
      const runner = heldRunner();
      const queue = createBatchQueue<number>(options({ maxLingerMs: linger }), runner.run, now);
      for (const n of first) queue.push(n);
      await turn();
      clock += 30;
      runner.finishOne();
      queue.push(9);
      await turn();
      expect(runner.batches).toEqual([[...first], [9]]);
    }
  });
});
