import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { type Reply, routingKeyFor } from '@subscriptions/contracts';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { createGate } from '../../../test-support/gate';
import { testLogger } from '../../../test-support/logger';
import { createCommandConsumer } from '../../src/broker/command-consumer';
import type { ExecuteBatch } from '../../src/subscriptions/apply-command';

/** A channel that takes declarations and deliveries and, once closed, refuses everything. */
class FakeChannel extends EventEmitter {
  private readonly consumers = new Map<string, (message: ConsumeMessage | null) => void>();
  private closed = false;
  private nextTag = 1;

  async prefetch() {}
  async assertExchange() {
    return {};
  }
  async assertQueue() {
    return {};
  }
  async bindQueue() {
    return {};
  }
  async consume(queue: string, onMessage: (message: ConsumeMessage | null) => void) {
    this.consumers.set(queue, onMessage);
    return { consumerTag: queue };
  }
  async cancel(tag: string) {
    if (this.closed) throw new Error('Channel closed');
    this.consumers.delete(tag);
    return {};
  }
  ack() {
    if (this.closed) throw new Error('Channel closed');
  }
  nack() {
    if (this.closed) throw new Error('Channel closed');
  }
  publish() {
    if (this.closed) throw new Error('Channel closed');
    return true;
  }
  /** Hands the queue's consumer a purchase, as the broker would. */
  deliver(queue: string): boolean {
    const consumer = this.consumers.get(queue);
    consumer?.({
      content: Buffer.from(JSON.stringify({ user_id: 1 })),
      fields: { deliveryTag: this.nextTag++, routingKey: routingKeyFor('PURCHASED') },
      properties: { messageId: `purchase-${this.nextTag}`, headers: {} },
    } as unknown as ConsumeMessage);
    return consumer !== undefined;
  }
  /** The connection under it went. */
  die(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

/** A connection whose channels a test can reach. */
function fakeConnection() {
  const channels: FakeChannel[] = [];
  const model = {
    createChannel: async () => {
      const channel = new FakeChannel();
      channels.push(channel);
      return channel;
    },
    close: async () => channels.forEach((channel) => channel.die()),
  };
  return { model: model as unknown as ChannelModel, channels };
}

const applied: Reply = {
  ok: true,
  subscription: {
    id: 1,
    user_id: 1,
    status: 'ACTIVE',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: null,
  },
};

describe('the command consumer across reconnects', () => {
  it('at shutdown, waits for the commands in hand of every connection, not only the newest', async () => {
    const gate = createGate();
    gate.close();
    const settled: string[] = [];
    let entered: () => void = () => undefined;
    const inHand = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const execute: ExecuteBatch = async (items) => {
      entered();
      await gate.pass();
      settled.push('batch');
      return { kind: 'committed', replies: items.map(() => applied) };
    };
    const commands = createCommandConsumer({
      prefetch: 4,
      execute,
      recordUnapplied: async () => ({ kind: 'committed', value: undefined }),
      logger: testLogger,
    });

    const first = fakeConnection();
    await commands.attach(first.model);
    expect(first.channels[0]?.deliver('PURCHASED')).toBe(true);
    await inHand;
    first.channels.forEach((channel) => channel.die());
    const second = fakeConnection();
    await commands.attach(second.model);

    const stopped = commands.stop().then(() => settled.push('stopped'));
    // Everything here settles in microtasks: one turn of the event loop lets a stop that does
    // not wait for the first connection's batch finish.
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toEqual([]);
    gate.open();
    await stopped;
    expect(settled).toEqual(['batch', 'stopped']);
  });
});
