import { describe, expect, it } from '@jest/globals';
import {
  COMMANDS,
  purchaseCommandSchema,
  QUEUES,
  replySchema,
  routingKeyFor,
  subscriptionCommandSchema,
} from '../../src';

describe('topology names', () => {
  it('routes each queue with the key <EXCHANGE>_<QUEUE>', () => {
    expect(QUEUES.map(routingKeyFor)).toEqual([
      'SUBSCRIPTIONS_PURCHASED',
      'SUBSCRIPTIONS_CANCELED',
      'SUBSCRIPTIONS_RESTARTED',
    ]);
  });

  it('gives every command its own queue and event type', () => {
    expect(COMMANDS.purchase).toEqual({ queue: 'PURCHASED', event: 'SUBSCRIPTION_PURCHASED' });
    expect(COMMANDS.cancel).toEqual({ queue: 'CANCELED', event: 'SUBSCRIPTION_CANCELED' });
    expect(COMMANDS.restart).toEqual({ queue: 'RESTARTED', event: 'SUBSCRIPTION_RESTARTED' });
  });
});

describe('command schemas', () => {
  it.each([1, 42, Number.MAX_SAFE_INTEGER])('accept the positive safe integer %p', (id) => {
    expect(purchaseCommandSchema.safeParse({ user_id: id }).success).toBe(true);
    expect(subscriptionCommandSchema.safeParse({ subscription_id: id }).success).toBe(true);
  });

  it.each([0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, '1', null, true, [1], Infinity, NaN])(
    'refuse the id %p',
    (id) => {
      expect(purchaseCommandSchema.safeParse({ user_id: id }).success).toBe(false);
      expect(subscriptionCommandSchema.safeParse({ subscription_id: id }).success).toBe(false);
    },
  );

  it('refuses unknown fields', () => {
    expect(purchaseCommandSchema.safeParse({ user_id: 1, admin: true }).success).toBe(false);
  });
});

describe('reply schema', () => {
  const subscription = {
    id: 7,
    user_id: 1,
    status: 'ACTIVE',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: null,
  };

  it('reads a success carrying the subscription', () => {
    expect(replySchema.parse({ ok: true, subscription })).toEqual({ ok: true, subscription });
  });

  it('reads a refusal with a known code and the current status', () => {
    const reply = {
      ok: false,
      error: { code: 'invalid_transition', message: 'no', current_status: 'CANCELED' },
    };
    expect(replySchema.parse(reply)).toEqual(reply);
  });

  it('refuses an error code outside the closed list', () => {
    expect(
      replySchema.safeParse({ ok: false, error: { code: 'teapot', message: 'x' } }).success,
    ).toBe(false);
  });

  it('refuses a subscription with an unknown status', () => {
    expect(
      replySchema.safeParse({ ok: true, subscription: { ...subscription, status: 'PAUSED' } })
        .success,
    ).toBe(false);
  });
});
