import { type EventType, STATUS_AFTER, type SubscriptionStatus } from '@subscriptions/contracts';

/** A purchase creates an ACTIVE subscription. Each change's `to` is the contract's STATUS_AFTER. */
export const PURCHASE = {
  to: STATUS_AFTER.SUBSCRIPTION_PURCHASED,
  event: 'SUBSCRIPTION_PURCHASED',
} as const;

/**
 * Cancel only from ACTIVE, restart only from CANCELED; each applied change is one event. The
 * use cases hand `from` and `to` to one conditional update, which decides atomically whether the
 * row was in `from`: no check in memory could, with another consumer at the same row.
 */
export const STATUS_CHANGES = {
  cancel: {
    from: 'ACTIVE',
    to: STATUS_AFTER.SUBSCRIPTION_CANCELED,
    event: 'SUBSCRIPTION_CANCELED',
  },
  restart: {
    from: 'CANCELED',
    to: STATUS_AFTER.SUBSCRIPTION_RESTARTED,
    event: 'SUBSCRIPTION_RESTARTED',
  },
} as const satisfies Record<
  string,
  { from: SubscriptionStatus; to: SubscriptionStatus; event: EventType }
>;

export type StatusChange = keyof typeof STATUS_CHANGES;
