import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Api, createApi } from '../../test-support/http/api';
import {
  expectAccepted,
  RESPOND_ASYNC,
  submitPurchase,
  waitForAllCompleted,
} from '../../test-support/http/commands';
import { printFigures, runConcurrently } from '../../test-support/http/load';
import { waitUntil } from '../../test-support/wait';
import {
  auditEvents,
  type EventSubscriber,
  openEventSubscriber,
  readHistory,
  readRelayPosition,
} from '../../test-support/outcomes/events';
import { createUsers } from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';
import {
  startConsumer,
  startProducer,
  type ServiceProcess,
} from '../../test-support/processes/services';

const PURCHASES = 300;
const CONCURRENCY = 10;
const SETTLE_MS = 20_000;

const relayed = (consumer: ServiceProcess) =>
  consumer.logLines().some((line) => line.msg === 'relaying events');

describe('events when the only consumer is SIGKILLed under load and restarted', () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let api: Api;
  let subscriber: EventSubscriber;
  let users: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    subscriber = await openEventSubscriber(stack.vhost.url);
    consumer = await stack.startConsumer();
    const producer = await stack.startProducer({ rpcTimeoutMs: 5_000 });
    api = createApi(producer.baseUrl);
    users = await createUsers(stack.db.pool, 10, 'Relay Kill');
  });

  afterAll(async () => {
    await subscriber?.close();
    await stack?.release();
  });

  it('every committed change has its event after the restart, and nothing else (copies only with the same id)', async () => {
    // Asynchronous purchases wait in the queue while no consumer runs: the load goes on.
    const sent = runConcurrently(PURCHASES, CONCURRENCY, async (index) =>
      expectAccepted(
        await submitPurchase(api, users[index % users.length] as number, {
          prefer: RESPOND_ASYNC,
        }),
        'purchase',
      ),
    );
    // Killed at a moment when changes have committed whose events have not arrived yet.
    let committedAtKill = 0;
    await waitUntil(
      'committed changes ahead of their events',
      async () => {
        committedAtKill = (await readHistory(stack.db.pool)).length;
        return committedAtKill >= PURCHASES / 3 && committedAtKill > subscriber.received.length;
      },
      SETTLE_MS,
      2,
    );
    await consumer.kill();
    const killedAt = performance.now();
    const receivedAtKill = subscriber.received.length;
    const restarted = await stack.startConsumer();
    const commands = await sent;
    await waitForAllCompleted(
      api,
      commands.map((command) => command.id),
      { timeoutMs: SETTLE_MS },
    );

    const history = await readHistory(stack.db.pool);
    expect(history).toHaveLength(PURCHASES);
    // Every change's own event: a count would pass on copies with some events still to come.
    await subscriber.waitForIds(
      history.map((row) => String(row.id)),
      SETTLE_MS,
    );
    // Copies of events published again go out with the rest: wait until the relay has confirmed
    // the newest event, so that the copies are counted too.
    await waitUntil(
      'the relay to publish the newest event',
      async () => (await readRelayPosition(stack.db.pool)) === history.at(-1)?.id,
      SETTLE_MS,
    );
    expect(relayed(restarted)).toBe(true);
    const audit = auditEvents(history, subscriber.received);
    printFigures('events, consumer SIGKILLed', {
      purchases: PURCHASES,
      committed_at_kill: committedAtKill,
      received_at_kill: receivedAtKill,
      events_received: subscriber.received.length,
      duplicates: audit.duplicates,
      restart_ms: Math.round(performance.now() - killedAt),
    });
    expect(audit.problems).toEqual([]);
    expect(subscriber.invalid).toEqual([]);
  });
});

describe("events while the relay's link to RabbitMQ is cut for 4 s", () => {
  let stack: FaultStack;
  let relay: ServiceProcess;
  let api: Api;
  let subscriber: EventSubscriber;
  let users: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    subscriber = await openEventSubscriber(stack.vhost.url);
    // The relay's consumer reaches the broker through the proxy and comes first, so it leads;
    // a second consumer and the producer reach it directly and go on applying commands.
    relay = await stack.startConsumer();
    await waitUntil('the first consumer to relay', () => relayed(relay), 10_000);
    const direct = { amqpUrl: stack.vhost.url, database: stack.db.name };
    const worker = await startConsumer(direct);
    const producer = await startProducer({ ...direct, env: { RATE_LIMIT_PER_MINUTE: '0' } });
    stack.adopt(worker, producer);
    api = createApi(producer.baseUrl);
    users = await createUsers(stack.db.pool, 10, 'Relay Cut');
  });

  afterAll(async () => {
    await subscriber?.close();
    await stack?.release();
  });

  it('holds the events of changes committed meanwhile back, and publishes them all once it is back', async () => {
    const before = PURCHASES / 3;
    const purchase = (index: number) =>
      submitPurchase(api, users[index % users.length] as number, { prefer: RESPOND_ASYNC });
    await runConcurrently(before, CONCURRENCY, purchase);
    await subscriber.waitFor(before, SETTLE_MS);

    stack.brokerProxy.sever();
    const cutAt = performance.now();
    const duringCut = await runConcurrently(PURCHASES - before, CONCURRENCY, purchase);
    // The other consumer applies them: committed, with nobody able to publish.
    await waitUntil(
      'the purchases to commit',
      async () => (await readHistory(stack.db.pool)).length === PURCHASES,
      SETTLE_MS,
    );
    const receivedDuringCut = subscriber.received.length - before;
    await sleep(Math.max(0, cutAt + 4_000 - performance.now()));
    stack.brokerProxy.restore();
    const restoredAt = performance.now();

    const history = await readHistory(stack.db.pool);
    await subscriber.waitForIds(
      history.map((row) => String(row.id)),
      SETTLE_MS,
    );
    const audit = auditEvents(history, subscriber.received);
    printFigures('events, relay link cut', {
      purchases: PURCHASES,
      accepted_during_cut: duringCut.filter((answer) => answer.status === 202).length,
      received_during_cut: receivedDuringCut,
      events_received: subscriber.received.length,
      duplicates: audit.duplicates,
      restore_to_last_event_ms: Math.round(
        (subscriber.received.at(-1)?.receivedAt ?? restoredAt) - restoredAt,
      ),
    });
    expect(receivedDuringCut).toBe(0);
    expect(audit.problems).toEqual([]);
    expect(subscriber.invalid).toEqual([]);
  });
});
