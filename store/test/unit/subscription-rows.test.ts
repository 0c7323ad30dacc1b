import { describe, expect, it } from '@jest/globals';
import { type SubscriptionRow, toSubscription } from '../../src/subscription-rows';

const row = (fields: Partial<SubscriptionRow>) =>
  ({
    id: 7,
    user_id: 3,
    status: 'ACTIVE',
    created_at: new Date('2026-01-02T03:04:05.678Z'),
    updated_at: null,
    ...fields,
  }) as SubscriptionRow;

describe('toSubscription', () => {
  it('maps a row to the contract shape, times as ISO-8601 UTC', () => {
    expect(toSubscription(row({}))).toEqual({
      id: 7,
      user_id: 3,
      status: 'ACTIVE',
      created_at: '2026-01-02T03:04:05.678Z',
      updated_at: null,
    });
  });

  it('reads ids the driver hands over as strings as numbers', () => {
    const updated = new Date('2026-02-03T04:05:06.000Z');
    const ids = { id: '9007199254740991', user_id: '12' } as unknown as Partial<SubscriptionRow>;
    expect(toSubscription(row({ ...ids, status: 'CANCELED', updated_at: updated }))).toEqual({
      id: Number.MAX_SAFE_INTEGER,
      user_id: 12,
      status: 'CANCELED',
      created_at: '2026-01-02T03:04:05.678Z',
      updated_at: '2026-02-03T04:05:06.000Z',
    });
  });
});
