import { describe, expect, it } from '@jest/globals';
import { purgeExpired } from '../../src/subscriptions/purge';

describe('purgeExpired', () => {
  it('deletes in statements of 500 until one takes fewer, resting between them', async () => {
    const counts = [500, 500, 300];
    const calls: { before: Date; limit: number }[] = [];
    const rests: number[] = [];
    const before = new Date('2026-01-01T00:00:00.000Z');
    const deleted = await purgeExpired(
      {
        purgeRecordsBefore: async (cutoff, limit) => {
          calls.push({ before: cutoff, limit });
          return counts.shift() ?? 0;
        },
      },
      before,
      async (ms) => {
        rests.push(ms);
      },
    );
    expect(deleted).toBe(1_300);
    expect(calls).toEqual([
      { before, limit: 500 },
      { before, limit: 500 },
      { before, limit: 500 },
    ]);
    // A rest after each full statement, none after the last.
    expect(rests).toHaveLength(2);
    for (const ms of rests) expect(ms).toBeGreaterThanOrEqual(0);
  });
});
