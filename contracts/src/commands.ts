import type { EventType } from './messages';
import type { QueueName } from './topology';

/** Each command travels on its own queue and, once applied, leaves one event of its type. */
export const COMMANDS = {
  purchase: { queue: 'PURCHASED', event: 'SUBSCRIPTION_PURCHASED' },
  cancel: { queue: 'CANCELED', event: 'SUBSCRIPTION_CANCELED' },
  restart: { queue: 'RESTARTED', event: 'SUBSCRIPTION_RESTARTED' },
} as const satisfies Record<string, { queue: QueueName; event: EventType }>;

export type CommandName = keyof typeof COMMANDS;
