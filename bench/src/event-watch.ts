import { EVENTS_EXCHANGE } from '@subscriptions/contracts';
import { assertEventsExchange } from '@subscriptions/platform';
import { readEvent } from '@subscriptions/tools';
import amqp from 'amqplib';
import type { Cleanup } from '../../test-support/cleanup';

/** How late events reached a subscriber during one cell. */
export interface EventDelays {
  events: number;
  p50: number;
  p99: number;
}

/**
 * A subscriber on the stack's events exchange, as another service would run it: for every event
 * it takes the time from the change (the event's `time`, set just before its transaction) to
 * its arrival here. That bounds commit-to-publish from above: it adds the transaction itself
 * and the delivery to a subscriber.
 */
export interface EventWatch {
  /** Starts counting the events that arrive from now. */
  start(): void;
  /** What arrived since `start`. */
  stop(): EventDelays;
}

export async function watchEvents(amqpUrl: string, cleanup: Cleanup): Promise<EventWatch> {
  const connection = await amqp.connect(amqpUrl);
  cleanup.add('close the event watch', () => connection.close());
  const channel = await connection.createChannel();
  await assertEventsExchange(channel);
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, EVENTS_EXCHANGE, '#');
  let delays: number[] | undefined;
  await channel.consume(
    queue,
    (message) => {
      if (!message || !delays) return;
      // Anything that is not an event of ours has no time to measure.
      const read = readEvent(message.content);
      if (read.ok) delays.push(Date.now() - Date.parse(read.event.time));
    },
    { noAck: true },
  );
  return {
    start() {
      delays = [];
    },
    stop() {
      const sorted = (delays ?? []).sort((a, b) => a - b);
      delays = undefined;
      const at = (fraction: number) =>
        sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ??
        Number.NaN;
      return { events: sorted.length, p50: at(0.5), p99: at(0.99) };
    },
  };
}
