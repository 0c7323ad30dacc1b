import { DEAD_LETTER_QUEUE } from '@subscriptions/contracts';
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';

/** The test's own connection to its vhost, straight to the broker (never through a proxy). */
export interface BrokerProbe {
  connection: ChannelModel;
  channel: Channel;
  /** Messages waiting in SUBSCRIPTIONS.DEAD_LETTER. */
  countDeadLetters(): Promise<number>;
  /** Takes (and acks) every message waiting in SUBSCRIPTIONS.DEAD_LETTER. */
  takeDeadLetters(): Promise<GetMessage[]>;
  close(): Promise<void>;
}

export async function openBrokerProbe(url: string): Promise<BrokerProbe> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  return {
    connection,
    channel,
    async countDeadLetters() {
      const { messageCount } = await channel.checkQueue(DEAD_LETTER_QUEUE);
      return messageCount;
    },
    async takeDeadLetters() {
      const taken: GetMessage[] = [];
      for (;;) {
        const message = await channel.get(DEAD_LETTER_QUEUE, { noAck: true });
        if (message === false) return taken;
        taken.push(message);
      }
    },
    close: () => connection.close(),
  };
}

/** The reason RabbitMQ gave when it first dead-lettered `message`. */
export function firstDeathReason(message: GetMessage): unknown {
  return message.properties.headers?.['x-first-death-reason'];
}
