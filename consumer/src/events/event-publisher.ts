import {
  CLOUD_EVENTS_CONTENT_TYPE,
  EVENTS_EXCHANGE,
  HEADER_REQUEST_ID,
} from '@subscriptions/contracts';
import {
  assertEventsExchange,
  closeConnectionWhenChannelDies,
  runInTraceContext,
} from '@subscriptions/platform';
import type { OutboxEvent } from '@subscriptions/store';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';

export interface EventPublisher {
  /** Recovery setup: the events exchange and a confirm channel on a new connection. */
  attach(model: ChannelModel): Promise<void>;
  /** True while a channel is open to publish on. */
  isReady(): boolean;
  /**
   * Publishes the events in order and resolves once the broker has confirmed every one; rejects
   * when it nacked one or the channel went, and then any of them may or may not have gone out.
   */
  publish(events: readonly OutboxEvent[]): Promise<void>;
}

export function createEventPublisher(logger: Logger): EventPublisher & { close(): void } {
  let channel: ConfirmChannel | undefined;
  let closing = false;
  return {
    /** Forgets the channel before its connection closes on purpose (shutdown). */
    close() {
      closing = true;
      channel = undefined;
    },

    async attach(model) {
      const opened = await model.createConfirmChannel();
      opened.on('error', (error: Error) => logger.warn({ err: error }, 'event channel error'));
      opened.on('close', () => {
        if (channel === opened) channel = undefined;
      });
      closeConnectionWhenChannelDies(model, opened, () => closing);
      await assertEventsExchange(opened);
      channel = opened;
    },

    isReady: () => channel !== undefined,

    async publish(events) {
      const target = channel;
      if (!target) throw new Error('no channel to publish events on');
      for (const { event, requestId, traceContext } of events) {
        // In the trace of the request that made the change: amqplib's span of the publish joins
        // it, and its context goes into the headers. A full socket buffer only delays: the
        // confirms below wait for the broker either way.
        runInTraceContext(traceContext, () =>
          target.publish(EVENTS_EXCHANGE, event.type, Buffer.from(JSON.stringify(event)), {
            persistent: true,
            contentType: CLOUD_EVENTS_CONTENT_TYPE,
            messageId: event.id,
            timestamp: Math.floor(Date.parse(event.time) / 1000),
            headers: requestId === null ? {} : { [HEADER_REQUEST_ID]: requestId },
          }),
        );
      }
      await target.waitForConfirms();
    },
  };
}
