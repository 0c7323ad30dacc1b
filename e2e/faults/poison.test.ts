import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  COMMAND_QUEUE_ARGUMENTS,
  EXCHANGE,
  HEADER_REQUEST_ID,
  routingKeyFor,
  type QueueName,
} from '@subscriptions/contracts';
import type { Channel, ConsumeMessage } from 'amqplib';
import { type Api, createApi, expectSubscription } from '../../test-support/http/api';
import { listEventTypes } from '../../test-support/outcomes/rows';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import {
  type BrokerProbe,
  firstDeathReason,
  openBrokerProbe,
} from '../../test-support/outcomes/dead-letters';
import {
  type Answer,
  printFigures,
  runConcurrently,
  sendPurchase,
  sendStatusChange,
  tally,
} from '../../test-support/http/load';
import { waitUntil } from '../../test-support/wait';
import { findLedgerInconsistencies, readLedger } from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

const RPC_TIMEOUT_MS = 5_000;
const DELIVERY_LIMIT = COMMAND_QUEUE_ARGUMENTS['x-delivery-limit'];
/** Clients keeping the real consumer busy meanwhile. */
const GOOD_CLIENTS = 4;

/**
 * A consumer that crashes on what it takes: it holds one delivery and goes away without acking.
 * Its priority makes the broker offer it the queue's messages before the real consumer, so the
 * poison keeps coming back to it rather than to the service under test.
 */
async function startCrashingConsumer(
  probe: BrokerProbe,
  queue: QueueName,
): Promise<{ channel: Channel; delivery: Promise<ConsumeMessage> }> {
  const channel = await probe.connection.createChannel();
  await channel.prefetch(1);
  let deliver: (message: ConsumeMessage) => void = () => undefined;
  const delivery = new Promise<ConsumeMessage>((resolve) => {
    deliver = resolve;
  });
  await channel.consume(queue, (message) => message && deliver(message), { priority: 10 });
  return { channel, delivery };
}

function publishRaw(probe: BrokerProbe, queue: QueueName, body: Buffer, messageId: string): void {
  probe.channel.publish(EXCHANGE, routingKeyFor(queue), body, {
    persistent: true,
    contentType: 'application/json',
    messageId,
    headers: { [HEADER_REQUEST_ID]: `fault-${messageId}` },
  });
}

describe('when commands reach the queues that no consumer can handle', () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let probe: BrokerProbe;
  let userId: number;
  const exits: string[] = [];

  beforeAll(async () => {
    stack = await createFaultStack();
    consumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    void consumer.waitForExit().then(() => exits.push('consumer'));
    api = createApi(producer.baseUrl);
    probe = await openBrokerProbe(stack.vhost.url);
    userId = await stack.db.createUser('Poison Test');
  });

  afterAll(async () => {
    await probe?.close();
    await stack?.release();
  });

  it(
    `a command that crashes whoever takes it is dead-lettered as delivery_limit after ` +
      `${DELIVERY_LIMIT + 1} deliveries, unapplied, while the consumer keeps serving other commands`,
    async () => {
      // The poison is a well-formed restart of a canceled subscription.
      const target = expectSubscription(await api.purchase({ user_id: userId }), 201, {
        user_id: userId,
        status: 'ACTIVE',
      });
      expectSubscription(await api.cancel(target.id), 200, {
        id: target.id,
        user_id: userId,
        status: 'CANCELED',
      });

      let holder = await startCrashingConsumer(probe, 'RESTARTED');
      const poisonId = randomUUID();
      publishRaw(
        probe,
        'RESTARTED',
        Buffer.from(JSON.stringify({ subscription_id: target.id })),
        poisonId,
      );

      let crashing = true;
      const good = runConcurrently(GOOD_CLIENTS, GOOD_CLIENTS, async () => {
        const answers: Answer[] = [];
        while (crashing) {
          const bought = await sendPurchase(api, userId);
          answers.push(bought);
          if (bought.status !== 201) break;
          const id = (bought.body as { id: number }).id;
          answers.push(await sendStatusChange(api, id, 'cancel'));
        }
        return answers;
      });

      const deliveryCounts: unknown[] = [];
      const deadLettered = waitUntil(
        'the poison to be dead-lettered',
        async () => (await probe.countDeadLetters()) > 0,
        20_000,
        50,
      ).then(() => 'dead-lettered' as const);
      // Raced below; should the loop fail first, its own failure is the one to report.
      deadLettered.catch(() => undefined);
      try {
        for (;;) {
          const next = await Promise.race([holder.delivery, deadLettered]);
          if (next === 'dead-lettered') break;
          expect(next.properties.messageId).toBe(poisonId);
          deliveryCounts.push(next.properties.headers?.['x-delivery-count'] ?? 0);
          // Ready for the redelivery before the crash hands the message back.
          const successor = await startCrashingConsumer(probe, 'RESTARTED');
          await holder.channel.close();
          holder = successor;
        }
      } finally {
        crashing = false;
        await holder.channel.close();
      }
      const goodAnswers = (await good).flat();

      const [deadLetter, ...others] = await probe.takeDeadLetters();
      printFigures('poison command', {
        deliveries: deliveryCounts.length,
        delivery_counts: deliveryCounts,
        dead_letter_reason: deadLetter && firstDeathReason(deadLetter),
        good_requests_meanwhile: goodAnswers.length,
        good_statuses: tally(goodAnswers).statuses,
      });
      expect(deliveryCounts).toHaveLength(DELIVERY_LIMIT + 1);
      expect(others).toEqual([]);
      expect(deadLetter?.properties.messageId).toBe(poisonId);
      expect(deadLetter && firstDeathReason(deadLetter)).toBe('delivery_limit');
      expect(deadLetter?.properties.headers?.['x-first-death-queue']).toBe('RESTARTED');
      // Never applied: the target is still canceled, with its two events.
      expect(await listEventTypes(stack.db.pool, target.id)).toEqual([
        'SUBSCRIPTION_PURCHASED',
        'SUBSCRIPTION_CANCELED',
      ]);
      // The real consumer served everything else meanwhile, without a restart.
      expect(goodAnswers.length).toBeGreaterThan(0);
      expect(
        goodAnswers.filter((answer) => answer.status !== 201 && answer.status !== 200),
      ).toEqual([]);
      expect(findLedgerInconsistencies(await readLedger(stack.db.pool))).toEqual([]);
      expect(exits).toEqual([]);
    },
    60_000,
  );

  it('bodies that are not JSON or break the schema are dead-lettered as rejected, and the consumer stays up', async () => {
    const hostile: [QueueName, Buffer][] = [
      ['PURCHASED', Buffer.from('not json')],
      ['PURCHASED', Buffer.alloc(0)],
      ['PURCHASED', Buffer.from('{"user_id":')],
      ['PURCHASED', Buffer.from([0xff, 0xfe, 0x00, 0x7b])],
      ['PURCHASED', Buffer.from('null')],
      ['PURCHASED', Buffer.from('[1]')],
      ['PURCHASED', Buffer.from('{}')],
      ['PURCHASED', Buffer.from('{"user_id":"1"}')],
      ['PURCHASED', Buffer.from('{"user_id":-1}')],
      ['PURCHASED', Buffer.from('{"user_id":1.5}')],
      ['PURCHASED', Buffer.from('{"user_id":9007199254740993}')],
      ['PURCHASED', Buffer.from('{"user_id":1,"admin":true}')],
      ['PURCHASED', Buffer.from('{"subscription_id":1}')],
      ['PURCHASED', Buffer.from(`{"user_id":${'['.repeat(5_000)}`)],
      ['CANCELED', Buffer.from('{"user_id":1}')],
      ['RESTARTED', Buffer.from('true')],
    ];
    const sent = hostile.map(([queue, body]) => {
      const messageId = randomUUID();
      publishRaw(probe, queue, body, messageId);
      return messageId;
    });

    await waitUntil(
      'every hostile body to be dead-lettered',
      async () => (await probe.countDeadLetters()) >= hostile.length,
      10_000,
    );
    const deadLetters = await probe.takeDeadLetters();
    const reasons = deadLetters.map((message) => firstDeathReason(message));
    printFigures('hostile bodies', {
      published: hostile.length,
      dead_lettered: deadLetters.length,
      reasons: [...new Set(reasons)],
    });
    expect(deadLetters.map((message) => message.properties.messageId).sort()).toEqual(
      sent.slice().sort(),
    );
    expect(reasons).toEqual(hostile.map(() => 'rejected'));

    // Still the same process, still consuming: a purchase goes through.
    expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });
    expect(exits).toEqual([]);
    expect(consumer.logLines().filter((line) => line.msg === 'consuming commands')).toHaveLength(1);
  });
});
