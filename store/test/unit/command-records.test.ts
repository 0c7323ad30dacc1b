import { describe, expect, it } from '@jest/globals';
import {
  type CommandRecordRow,
  commandRecordKey,
  toRecordedOutcome,
} from '../../src/command-records';

const completedAt = new Date('2026-03-04T05:06:07.089Z');

describe('commandRecordKey', () => {
  it("reads the acceptance time from a producer's command id, and hashes the whole id", () => {
    const acceptedAt = Date.parse('2026-12-03T19:13:34.352Z');
    const id = `purchase.${acceptedAt.toString(36)}..MQ.d0I5fbkFRLbK9Yvj7Q3DyA.xtaAiYwSkPlCRYj47-CNiw`;
    const key = commandRecordKey(id);
    expect(key.acceptedAt).toBe(acceptedAt);
    expect(key.idHash).toHaveLength(8);
    expect(commandRecordKey(id).idHash.equals(key.idHash)).toBe(true);
    // Another id of the same millisecond is another record.
    expect(commandRecordKey(`${id}x`).idHash.equals(key.idHash)).toBe(false);
  });

  it('gives a message id of any other form the time 0', () => {
    for (const id of ['m-1', '', 'purchase', 'purchase.!.x', `x.${'z'.repeat(12)}.y`]) {
      expect(commandRecordKey(id).acceptedAt).toBe(0);
    }
  });
});

describe('toRecordedOutcome', () => {
  const none = {
    subscription_id: null,
    type: null,
    version: null,
    request_id: null,
    created_at: null,
    user_id: null,
    subscription_created_at: null,
  };

  it('answers an applied command with the subscription its history row describes', () => {
    const row = {
      id: 12,
      subscription_id: 7,
      type: 'SUBSCRIPTION_CANCELED',
      version: 1,
      request_id: 'req',
      created_at: completedAt,
      user_id: 3,
      subscription_created_at: new Date('2026-03-01T00:00:00.000Z'),
      refusal: null,
      command_request_id: null,
      completed_at: completedAt,
    } as unknown as CommandRecordRow;
    expect(toRecordedOutcome(row)).toEqual({
      reply: {
        ok: true,
        subscription: {
          id: 7,
          user_id: 3,
          status: 'CANCELED',
          created_at: '2026-03-01T00:00:00.000Z',
          updated_at: completedAt.toISOString(),
        },
      },
      requestId: null,
      completedAt,
    });
  });

  it('answers a refused one with its error and the request it came from', () => {
    const error = { code: 'invalid_transition', message: 'no', current_status: 'CANCELED' };
    const row = {
      ...none,
      id: null,
      refusal: JSON.stringify(error),
      command_request_id: 'req-9',
      completed_at: completedAt,
    } as unknown as CommandRecordRow;
    expect(toRecordedOutcome(row)).toEqual({
      reply: { ok: false, error },
      requestId: 'req-9',
      completedAt,
    });
  });
});
