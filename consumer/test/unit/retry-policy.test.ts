import { describe, expect, it, jest } from '@jest/globals';
import type { Reply } from '@subscriptions/contracts';
import {
  retryDelayMs,
  retryUntil,
  runWithRetries,
  type RetryItem,
  type Settlement,
} from '../../src/broker/retry-policy';
import type { BatchOutcome, ExecuteBatch } from '../../src/subscriptions/apply-command';

interface Item extends RetryItem {
  name: string;
}

const item = (name: string, until = Number.POSITIVE_INFINITY): Item => ({
  name,
  retryUntil: until,
  command: { name: 'cancel', body: { subscription_id: 1 } },
  identity: { messageId: name },
});

const replyFor = (id: string): Reply => ({
  ok: false,
  error: { code: 'subscription_not_found', message: id },
});

/** Records how each item ended; `execute` answers from a script, one outcome per call. */
function harness(script: ((ids: string[]) => BatchOutcome)[]) {
  const ended: string[] = [];
  const calls: string[][] = [];
  const execute: ExecuteBatch = (items) => {
    const ids = items.map(({ identity }) => identity.messageId ?? '');
    calls.push(ids);
    const next = script.shift() ?? (() => ({ kind: 'committed', replies: ids.map(replyFor) }));
    return Promise.resolve(next(ids));
  };
  const settle: Settlement<Item> = {
    answered: (entry, reply) =>
      ended.push(`${entry.name}: ${reply.ok ? 'ok' : reply.error.message}`),
    gaveUp: (entry) => ended.push(`${entry.name}: gave up`),
    failed: (entry) => ended.push(`${entry.name}: failed`),
    retrying: () => undefined,
  };
  return { ended, calls, execute, settle };
}

const transient = (): BatchOutcome => ({ kind: 'transient', error: new Error('gone away') });

describe('retry policy', () => {
  it('backs off from 100 ms, doubling, to 2 s at most', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelayMs)).toEqual([
      100, 200, 400, 800, 1_600, 2_000, 2_000,
    ]);
  });

  it('retries until the deadline, or for good without one', () => {
    expect(retryUntil(5_000)).toBe(5_000);
    expect(retryUntil(undefined)).toBe(Number.POSITIVE_INFINITY);
  });

  it('answers every command of a committed batch, in order', async () => {
    const { ended, calls, execute, settle } = harness([]);
    const now = () => 0;
    await runWithRetries([item('a'), item('b')], { execute, settle, now, isStopping: () => false });
    expect(calls).toEqual([['a', 'b']]);
    expect(ended).toEqual(['a: a', 'b: b']);
  });

  it('retries a transient failure and answers once the database is back', async () => {
    const { ended, calls, execute, settle } = harness([transient]);
    const now = () => 0;
    await runWithRetries([item('a')], { execute, settle, now, isStopping: () => false });
    expect(calls).toEqual([['a'], ['a']]);
    expect(ended).toEqual(['a: a']);
  });

  it('gives a command up when its time runs out before the next attempt', async () => {
    const { ended, calls, execute, settle } = harness([transient]);
    let clock = 1_000;
    // The first delay is 100 ms: 'soon' ends within it, 'later' does not.
    await runWithRetries([item('soon', 1_050), item('later', 5_000)], {
      execute,
      settle: { ...settle, retrying: (_items, _attempt, delay) => void (clock += delay) },
      now: () => clock,
      isStopping: () => false,
    });
    expect(calls).toEqual([['soon', 'later'], ['later']]);
    expect(ended).toEqual(['soon: gave up', 'later: later']);
  });

  it('gives a command up only once its deadline has passed, so its dead letter reads as expired', async () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const { ended, calls, execute, settle } = harness([transient, transient, transient]);
      const gaveUpAt: number[] = [];
      // The second failure comes at 100 ms; the next attempt would start at 300, past 150.
      const done = runWithRetries([item('soon', 150)], {
        execute,
        settle: { ...settle, gaveUp: (entry) => (gaveUpAt.push(Date.now()), settle.gaveUp(entry)) },
        now: () => Date.now(),
        isStopping: () => false,
      });
      await jest.runAllTimersAsync();
      await done;
      expect(calls).toEqual([['soon'], ['soon']]);
      expect(ended).toEqual(['soon: gave up']);
      expect(gaveUpAt[0]).toBeGreaterThanOrEqual(150);
    } finally {
      jest.useRealTimers();
    }
  });

  it('never starts a command whose time is up, however long it waited for its batch', async () => {
    const { ended, calls, execute, settle } = harness([]);
    await runWithRetries([item('late', 999), item('due', 1_000), item('early', 1_001)], {
      execute,
      settle,
      now: () => 1_000,
      isStopping: () => false,
    });
    expect(calls).toEqual([['early']]);
    expect(ended).toEqual(['late: gave up', 'due: gave up', 'early: early']);
  });

  it('checks the time again before each command of a split batch', async () => {
    let clock = 0;
    const failed = (): BatchOutcome => {
      clock = 2_000; // the failed attempt took long
      return { kind: 'failed', error: new Error('bug') };
    };
    const { ended, calls, execute, settle } = harness([failed]);
    await runWithRetries([item('a', 1_000), item('b')], {
      execute,
      settle,
      now: () => clock,
      isStopping: () => false,
    });
    expect(calls).toEqual([['a', 'b'], ['b']]);
    expect(ended).toEqual(['a: gave up', 'b: b']);
  });

  it('does not retry while stopping', async () => {
    const { ended, calls, execute, settle } = harness([transient]);
    await runWithRetries([item('a')], { execute, settle, now: () => 0, isStopping: () => true });
    expect(calls).toEqual([['a']]);
    expect(ended).toEqual(['a: gave up']);
  });

  it('splits a batch that failed for good, so only the bad command fails', async () => {
    const failed = (): BatchOutcome => ({ kind: 'failed', error: new Error('bug') });
    const { ended, calls, execute, settle } = harness([
      failed,
      (ids) => ({ kind: 'committed', replies: ids.map(replyFor) }),
      failed,
      (ids) => ({ kind: 'committed', replies: ids.map(replyFor) }),
    ]);
    await runWithRetries([item('a'), item('bad'), item('c')], {
      execute,
      settle,
      now: () => 0,
      isStopping: () => false,
    });
    expect(calls).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(ended).toEqual(['a: a', 'bad: failed', 'c: c']);
  });

  it('fails the commands of an executor that throws instead of holding them', async () => {
    const { ended, settle } = harness([]);
    const execute: ExecuteBatch = () => Promise.reject(new Error('bug'));
    await runWithRetries([item('a')], { execute, settle, now: () => 0, isStopping: () => false });
    expect(ended).toEqual(['a: failed']);
  });
});
