import { EVENTS_EXCHANGE } from '@subscriptions/contracts';
import type { Channel } from 'amqplib';

/**
 * Declares the events exchange as everything that publishes or binds to it must (the broker
 * refuses a declaration that differs): durable, topic, routed by each event's CloudEvents `type`.
 * Whoever comes first creates it, so a subscriber can bind before the first event.
 */
export async function assertEventsExchange(
  channel: Pick<Channel, 'assertExchange'>,
): Promise<void> {
  await channel.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
}
