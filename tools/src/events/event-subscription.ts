import { EVENTS_EXCHANGE, HEADER_REQUEST_ID, type CloudEvent } from '@subscriptions/contracts';
import { assertEventsExchange } from '@subscriptions/platform';
import type { ChannelModel, MessageProperties } from 'amqplib';
import { readEvent } from './read-event';

/** Messages delivered before their acks; enough to keep a terminal busy, bounded all the same. */
const PREFETCH = 100;

export interface EventDelivery {
  event: CloudEvent;
  /** The `x-request-id` header: the HTTP request whose command made the change. */
  requestId: string | undefined;
  routingKey: string;
  /** The message's properties as the broker delivered them (`messageId` is the event's id). */
  properties: MessageProperties;
}

export interface RefusedDelivery {
  routingKey: string;
  messageId: string | undefined;
  reason: string;
}

export interface EventSubscription {
  /** The server-named queue bound to the exchange. */
  queue: string;
  /** Settles when the broker ends the subscription (queue deleted, channel closed). */
  ended: Promise<Error>;
  /** Stops consuming and closes the channel; the exclusive queue goes with the connection. */
  close(): Promise<void>;
}

/**
 * Binds a queue of its own to the events exchange with each pattern and hands over every event
 * that arrives, each acked once handed over. A body that is not a valid event goes to `onRefused`
 * and is acked too: it would come back the same on every redelivery.
 */
export async function subscribeToEvents(options: {
  model: ChannelModel;
  patterns: readonly string[];
  onEvent: (delivery: EventDelivery) => void;
  onRefused: (delivery: RefusedDelivery) => void;
}): Promise<EventSubscription> {
  const { model, patterns, onEvent, onRefused } = options;
  const channel = await model.createChannel();
  let end: (error: Error) => void = () => undefined;
  const ended = new Promise<Error>((resolve) => {
    end = resolve;
  });
  channel.on('error', (error: Error) => end(error));
  channel.on('close', () => end(new Error('the channel was closed')));

  await assertEventsExchange(channel);
  // Exclusive and server-named: it lives as long as this connection, and is never shared.
  const { queue } = await channel.assertQueue('', { exclusive: true, durable: false });
  for (const pattern of patterns) await channel.bindQueue(queue, EVENTS_EXCHANGE, pattern);
  await channel.prefetch(PREFETCH);
  const { consumerTag } = await channel.consume(queue, (message) => {
    if (message === null) {
      end(new Error(`the broker cancelled the subscription of ${queue}`));
      return;
    }
    const read = readEvent(message.content);
    const requestId: unknown = message.properties.headers?.[HEADER_REQUEST_ID];
    const messageId: unknown = message.properties.messageId;
    const { routingKey } = message.fields;
    if (read.ok) {
      onEvent({
        event: read.event,
        requestId: typeof requestId === 'string' ? requestId : undefined,
        routingKey,
        properties: message.properties,
      });
    } else {
      onRefused({
        routingKey,
        messageId: typeof messageId === 'string' ? messageId : undefined,
        reason: read.reason,
      });
    }
    channel.ack(message);
  });

  return {
    queue,
    ended,
    async close() {
      await channel.cancel(consumerTag);
      await channel.close();
    },
  };
}
