import type { EventType, SubscriptionStatus } from '@subscriptions/contracts';

/** A purchase creates an ACTIVE subscription. */
export const PURCHASE = { to: 'ACTIVE', event: 'SUBSCRIPTION_PURCHASED' } as const;

/**
 * Cancel only from ACTIVE, restart only from CANCELED; each applied change is one event. The
 * use cases hand `from` and `to` to one conditional update, which decides atomically whether the
 * row was in `from`: no check in memory could, with another consumer at the same row.
 */
export const STATUS_CHANGES = {
  cancel: { from: 'ACTIVE', to: 'CANCELED', event: 'SUBSCRIPTION_CANCELED' },
  restart: { from: 'CANCELED', to: 'ACTIVE', event: 'SUBSCRIPTION_RESTARTED' },
} as const satisfies Record<
  string,
  { from: SubscriptionStatus; to: SubscriptionStatus; event: EventType }
>;

export type StatusChange = keyof typeof STATUS_CHANGES;
