import { describe, expect, it } from '@jest/globals';
import { createBatchQueue } from '../../src/broker/batch-queue';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('batch queue', () => {
  it('gathers what is pushed in one turn of the event loop into one batch, up to maxBatch', async () => {
    const batches: number[][] = [];
    const queue = createBatchQueue<number>({ maxBatch: 3, maxConcurrentBatches: 4 }, (batch) => {
      batches.push(batch);
      return Promise.resolve();
    });
    for (const n of [1, 2, 3, 4, 5]) queue.push(n);
    await turn();
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('while maxConcurrentBatches run, new items wait and form the next batch', async () => {
    const batches: number[][] = [];
    const finish: (() => void)[] = [];
    const queue = createBatchQueue<number>({ maxBatch: 10, maxConcurrentBatches: 1 }, (batch) => {
      batches.push(batch);
      return new Promise<void>((resolve) => finish.push(resolve));
    });
    queue.push(1);
    await turn();
    queue.push(2);
    queue.push(3);
    await turn();
    expect(batches).toEqual([[1]]);
    finish.shift()?.();
    await turn();
    await turn();
    expect(batches).toEqual([[1], [2, 3]]);
    finish.shift()?.();
  });
});
