import {
  COMMANDS,
  type EventType,
  STATUS_AFTER,
  type SubscriptionStatus,
} from '@subscriptions/contracts';

/**
 * A purchase creates a subscription. Each command's event is the contract's (COMMANDS), and the
 * status a change leads to is the one its event reports (STATUS_AFTER): the only rule written
 * here is which status each change starts from.
 */
export const PURCHASE = {
  to: STATUS_AFTER[COMMANDS.purchase.event],
  event: COMMANDS.purchase.event,
} as const;

/**
 * Cancel only from ACTIVE, restart only from CANCELED; each applied change is one event. The
 * use cases hand `from` and `to` to one conditional update, which decides atomically whether the
 * row was in `from`: no check in memory could, with another consumer at the same row.
 */
export const STATUS_CHANGES = {
  cancel: {
    from: 'ACTIVE',
    to: STATUS_AFTER[COMMANDS.cancel.event],
    event: COMMANDS.cancel.event,
  },
  restart: {
    from: 'CANCELED',
    to: STATUS_AFTER[COMMANDS.restart.event],
    event: COMMANDS.restart.event,
  },
} as const satisfies Record<
  string,
  { from: SubscriptionStatus; to: SubscriptionStatus; event: EventType }
>;

export type StatusChange = keyof typeof STATUS_CHANGES;
