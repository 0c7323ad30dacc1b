import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { fuzzParameters } from '../../../test-support/fuzz';
import { commandRecordKey } from '@subscriptions/store';
import { COMMAND_ID_PATTERN, createCommandIds } from '../../src/commands/command-ids';

const ids = createCommandIds('a-secret-for-command-ids-of-32-bytes-or-more');

describe('command ids', () => {
  it('read back the type, owner, acceptance time and deadline they were minted with', () => {
    const ticket = { type: 'cancel', owner: '42', acceptedAt: 1_764_000_000_123 } as const;
    expect(ids.read(ids.mint(ticket))).toEqual({ ...ticket, deadline: undefined });
    const synchronous = { ...ticket, deadline: ticket.acceptedAt + 10_000 };
    expect(ids.read(ids.mint(synchronous))).toEqual(synchronous);
  });

  it('are unguessable: the same ticket minted twice gives two ids', () => {
    const ticket = { type: 'purchase', owner: '7', acceptedAt: Date.now() } as const;
    expect(ids.mint(ticket)).not.toBe(ids.mint(ticket));
  });

  it('fit the path pattern and read back for any owner text', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('purchase', 'cancel', 'restart'),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: undefined }),
        (type, owner, acceptedAt, deadline) => {
          const id = ids.mint({ type, owner, acceptedAt, deadline });
          expect(id).toMatch(COMMAND_ID_PATTERN);
          expect(ids.read(id)).toEqual({ type, owner, acceptedAt, deadline });
        },
      ),
      fuzzParameters(100),
    );
  });

  it('read as unknown when changed, signed with another secret, or not minted at all', () => {
    const id = ids.mint({ type: 'purchase', owner: '7', acceptedAt: Date.now() });
    const [type, ...rest] = id.split('.');
    expect(type).toBe('purchase');
    // Another owner, another type, another time: the MAC no longer matches.
    const parts = id.split('.');
    for (const [index, value] of [
      [0, 'cancel'],
      [1, '0'],
      [2, 'zz'],
      [3, Buffer.from('1').toString('base64url')],
    ] as const) {
      const forged = [...parts];
      forged[index] = value;
      expect(ids.read(forged.join('.'))).toBeNull();
    }
    expect(createCommandIds('another-secret-for-command-ids-0123456789').read(id)).toBeNull();
    expect(ids.read(rest.join('.'))).toBeNull();
    // The last character of the MAC carries spare bits: another spelling is another id.
    const last = id.at(-1) === 'A' ? 'B' : 'A';
    for (const text of [
      '',
      'x',
      'a.b.c.d.e.f',
      `${id}.`,
      `${id}x`,
      `${id.slice(0, -1)}${last}`,
      id.replace(/\./g, '-'),
    ]) {
      expect(ids.read(text)).toBeNull();
    }
  });
});

describe('command ids and their records', () => {
  it('give the consumer the acceptance time the producer minted them with', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('purchase', 'cancel', 'restart'),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: undefined }),
        (type, acceptedAt, deadline) => {
          const id = ids.mint({ type, owner: '1', acceptedAt, deadline });
          expect(commandRecordKey(id).acceptedAt).toBe(acceptedAt);
        },
      ),
      fuzzParameters(100),
    );
  });
});
