import { describe, expect, it } from '@jest/globals';
import { createAcceptedCommands } from '../../src/commands/accepted-commands';

const command = (id: string, acceptedAt: number) => ({
  id,
  ticket: { type: 'purchase' as const, owner: '1', acceptedAt },
});

describe('the asynchronous commands a producer remembers by Idempotency-Key', () => {
  it('finds a command under its request identity while it is kept', () => {
    let clock = 1_000;
    const accepted = createAcceptedCommands({ capacity: 10, retentionMs: 500, now: () => clock });
    accepted.remember('a', command('A', clock));
    expect(accepted.find('a')?.id).toBe('A');
    expect(accepted.find('b')).toBeUndefined();
    clock += 499;
    expect(accepted.find('a')?.id).toBe('A');
    clock += 1;
    expect(accepted.find('a')).toBeUndefined();
  });

  it('forgets the oldest first once past its capacity', () => {
    const accepted = createAcceptedCommands({ capacity: 2, retentionMs: 60_000 });
    const now = Date.now();
    accepted.remember('a', command('A', now));
    accepted.remember('b', command('B', now));
    // Remembering 'a' again makes it the newest.
    accepted.remember('a', command('A2', now));
    accepted.remember('c', command('C', now));
    expect([accepted.find('a')?.id, accepted.find('b')?.id, accepted.find('c')?.id]).toEqual([
      'A2',
      undefined,
      'C',
    ]);
  });
});
