import {
  COMMAND_QUEUE_ARGUMENTS,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  EXCHANGE,
  QUEUES,
  routingKeyFor,
  UNAPPLIED_QUEUE,
} from '@subscriptions/contracts';
import type { Channel } from 'amqplib';

/**
 * Declares the exchange, the three command queues and the dead-letter path (two queues); the
 * events exchange is the event publisher's (events/event-publisher.ts). Idempotent;
 * the consumer owns the queues, so a command published before any consumer ever ran is
 * refused as unroutable rather than parked where nobody reads it.
 */
export async function assertTopology(channel: Channel): Promise<void> {
  await channel.assertExchange(EXCHANGE, 'direct', { durable: true });
  await channel.assertExchange(DEAD_LETTER_EXCHANGE, 'fanout', { durable: true });
  // The fanout gives each dead letter to both: the operators' queue, and the one whose reader
  // records that the command ended unapplied.
  for (const queue of [DEAD_LETTER_QUEUE, UNAPPLIED_QUEUE]) {
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.bindQueue(queue, DEAD_LETTER_EXCHANGE, '');
  }
  for (const queue of QUEUES) {
    await channel.assertQueue(queue, { durable: true, arguments: COMMAND_QUEUE_ARGUMENTS });
    await channel.bindQueue(queue, EXCHANGE, routingKeyFor(queue));
  }
}
