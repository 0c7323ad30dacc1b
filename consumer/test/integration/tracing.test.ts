import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createDatabasePool, createEventOutbox } from '@subscriptions/store';
import amqp, { type ChannelModel } from 'amqplib';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { releaseAll } from '../../../test-support/cleanup';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { createGate } from '../../../test-support/gate';
import {
  createApi,
  expectProblem,
  expectSubscription,
  type Api,
} from '../../../test-support/http/api';
import { RESPOND_ASYNC } from '../../../test-support/http/commands';
import { testLogger } from '../../../test-support/logger';
import { type EventSubscriber, openEventSubscriber } from '../../../test-support/outcomes/events';
import { type InProcessProducer, startInProcessProducer } from '../../../test-support/producer';
import {
  type InMemoryTracing,
  startInMemoryTracing,
} from '../../../test-support/tracing/in-memory-tracing';
import { createEventPublisher } from '../../src/events/event-publisher';
import { startEventRelay } from '../../src/events/event-relay';

/**
 * The span tree of each kind of request, read from an in-memory exporter: the producer and the
 * consumer wired in-process with the SDK and the instrumentations the processes run, against the
 * real broker and database.
 */

let tracing: InMemoryTracing;
let db: TestDatabase;
let vhost: TestVhost;
let producer: InProcessProducer;
let consumer: InProcessConsumer;
let server: Server;
let api: Api;
/** Shut, it holds the consumer's next transaction, with its batch span open. */
const consumerGate = createGate();

beforeAll(async () => {
  // First: Express's instrumentation patches the routes as the app adds them.
  tracing = startInMemoryTracing();
  [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
  consumer = await startInProcessConsumer({
    amqpUrl: vhost.url,
    database: db.name,
    beforeBatch: () => consumerGate.pass(),
  });
  producer = await startInProcessProducer({ amqpUrl: vhost.url, database: db.name });
  server = producer.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  api = createApi(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  consumerGate.open();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await releaseAll([producer?.stop(), consumer?.stop()]);
  await releaseAll([vhost?.delete(), db?.drop()]);
  await tracing?.stop();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A caller's trace context, as a client that traces sends it. */
function callerContext() {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;
const parentIdOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The spans of one trace, with lookups a span tree needs. */
function treeOf(spans: ReadableSpan[]) {
  const one = (matches: (span: ReadableSpan) => boolean, what: string) => {
    const found = spans.filter(matches);
    if (found.length !== 1) {
      throw new Error(`${found.length} spans ${what}: ${spans.map((s) => s.name).join(', ')}`);
    }
    return found[0] as ReadableSpan;
  };
  return {
    spans,
    named: (name: string) => one((span) => span.name === name, `named "${name}"`),
    childrenOf: (parent: ReadableSpan) => spans.filter((span) => parentIdOf(span) === idOf(parent)),
    server: () => one((span) => span.kind === SpanKind.SERVER, 'of the HTTP server'),
  };
}

/** Waits until the trace `traceId` holds a finished span for each name, and returns it. */
function waitForTrace(traceId: string, names: string[]) {
  return tracing.waitFor(`spans ${names.join(', ')} in trace ${traceId}`, (finished) => {
    const spans = finished.filter((span) => traceOf(span) === traceId);
    return names.every((name) => spans.some((span) => span.name === name)) && treeOf(spans);
  });
}

/** The statements of a transaction: mysql2's spans below its batch span. */
function expectStatements(tree: ReturnType<typeof treeOf>, batch: ReadableSpan): void {
  const statements = tree.childrenOf(batch);
  expect(statements.length).toBeGreaterThan(0);
  for (const statement of statements) {
    expect(statement.kind).toBe(SpanKind.CLIENT);
    expect(statement.attributes['db.system.name']).toBe('mysql');
  }
  const text = statements.map((statement) => String(statement.attributes['db.query.text']));
  expect(text.join('\n')).toMatch(/\bCOMMIT\b/);
}

const SYNC_COMMAND_SPANS = [
  'request handler',
  'publish SUBSCRIPTIONS',
  'process batch',
  'publish <default>',
  'amq.rabbitmq.reply-to process',
];

describe('the span tree of a request', () => {
  it("of a purchase: the HTTP span continues the caller's, the command's publish, its delivery, its transaction with its SQL, the reply and its receipt, in one trace", async () => {
    const caller = callerContext();
    const userId = await db.createUser();
    expectSubscription(
      await api.purchase({ user_id: userId }, { traceparent: caller.traceparent }),
      201,
      { user_id: userId, status: 'ACTIVE' },
    );
    const tree = await waitForTrace(caller.traceId, [
      'POST /api/v1/subscriptions',
      'command purchase',
      'PURCHASED process',
      ...SYNC_COMMAND_SPANS,
    ]);

    const server = tree.server();
    expect(parentIdOf(server)).toBe(caller.spanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/subscriptions',
      'http.response.status_code': 201,
    });
    const handler = tree.named('request handler');
    expect(parentIdOf(handler)).toBe(idOf(server));
    const command = tree.named('command purchase');
    // Express's spans are those of its layers: the route's work sits under its handler's span or,
    // when the route runs in the app's own first layer, right under the server span.
    expect([idOf(handler), idOf(server)]).toContain(parentIdOf(command));
    expect(command.kind).toBe(SpanKind.CLIENT);
    expect(command.attributes).toMatchObject({
      'subscriptions.command.type': 'purchase',
      'subscriptions.command.mode': 'sync',
      'subscriptions.command.outcome': 'ok',
    });
    const commandId = command.attributes['subscriptions.command.id'];

    const publish = tree.named('publish SUBSCRIPTIONS');
    expect(parentIdOf(publish)).toBe(idOf(command));
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'SUBSCRIPTIONS',
      'messaging.rabbitmq.destination.routing_key': 'SUBSCRIPTIONS_PURCHASED',
      'messaging.message.id': commandId,
    });

    const delivery = tree.named('PURCHASED process');
    expect(parentIdOf(delivery)).toBe(idOf(publish));
    expect(delivery.kind).toBe(SpanKind.CONSUMER);
    expect(delivery.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.rabbitmq.destination.routing_key': 'SUBSCRIPTIONS_PURCHASED',
      'messaging.message.id': commandId,
    });
    const batch = tree.named('process batch');
    expect(parentIdOf(batch)).toBe(idOf(delivery));
    expect(batch.kind).toBe(SpanKind.CONSUMER);
    expect(batch.attributes).toMatchObject({
      'messaging.batch.message_count': 1,
      'subscriptions.batch.outcome': 'committed',
    });
    expect(batch.links.map((link) => link.context.spanId)).toEqual([idOf(delivery)]);
    expectStatements(tree, batch);

    const reply = tree.named('publish <default>');
    expect(parentIdOf(reply)).toBe(idOf(delivery));
    const received = tree.named('amq.rabbitmq.reply-to process');
    expect(parentIdOf(received)).toBe(idOf(reply));
    expect(tree.spans.every((span) => span.status.code !== SpanStatusCode.ERROR)).toBe(true);
  });

  it('of a cancel: the same tree, through the CANCELED queue', async () => {
    const userId = await db.createUser();
    const { id } = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });
    const caller = callerContext();
    const canceled = await api.send('PUT', `/api/v1/subscriptions/${id}/status`, {
      json: { canceled: true },
      headers: { traceparent: caller.traceparent },
    });
    expectSubscription(canceled, 200, { id, user_id: userId, status: 'CANCELED' });
    const tree = await waitForTrace(caller.traceId, [
      'PUT /api/v1/subscriptions/:id/status',
      'command cancel',
      'CANCELED process',
      ...SYNC_COMMAND_SPANS,
    ]);
    expect(parentIdOf(tree.server())).toBe(caller.spanId);
    expect(tree.named('command cancel').attributes['subscriptions.command.outcome']).toBe('ok');
    expect(tree.named('publish SUBSCRIPTIONS').attributes).toMatchObject({
      'messaging.rabbitmq.destination.routing_key': 'SUBSCRIPTIONS_CANCELED',
    });
    const delivery = tree.named('CANCELED process');
    expect(parentIdOf(delivery)).toBe(idOf(tree.named('publish SUBSCRIPTIONS')));
    const batch = tree.named('process batch');
    expect(parentIdOf(batch)).toBe(idOf(delivery));
    expectStatements(tree, batch);
    expect(parentIdOf(tree.named('publish <default>'))).toBe(idOf(delivery));
  });

  it('of a refused command: the refusal is the outcome of the command span, not an error, and the transaction still commits its record', async () => {
    const userId = await db.createUser();
    const { id } = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });
    const caller = callerContext();
    const refused = await api.send('PUT', `/api/v1/subscriptions/${id}/status`, {
      json: { restarted: true },
      headers: { traceparent: caller.traceparent },
    });
    expectProblem(refused, 409, 'invalid_transition');
    const tree = await waitForTrace(caller.traceId, [
      'PUT /api/v1/subscriptions/:id/status',
      'command restart',
      'RESTARTED process',
      ...SYNC_COMMAND_SPANS,
    ]);
    expect(tree.server().attributes['http.response.status_code']).toBe(409);
    const command = tree.named('command restart');
    expect(command.attributes['subscriptions.command.outcome']).toBe('invalid_transition');
    expect(command.status.code).not.toBe(SpanStatusCode.ERROR);
    const batch = tree.named('process batch');
    expect(batch.attributes['subscriptions.batch.outcome']).toBe('committed');
    expectStatements(tree, batch);
    expect(parentIdOf(tree.named('publish <default>'))).toBe(idOf(tree.named('RESTARTED process')));
  });

  it("of an asynchronous command: the 202 ends the request's spans; the command's later completion joins the same trace", async () => {
    const userId = await db.createUser();
    const caller = callerContext();
    consumerGate.close();
    try {
      const accepted = await api.purchase(
        { user_id: userId },
        { prefer: RESPOND_ASYNC, traceparent: caller.traceparent },
      );
      expect(accepted.status).toBe(202);
      const answered = await waitForTrace(caller.traceId, ['POST /api/v1/subscriptions']);
      const command = answered.named('command purchase');
      expect(command.attributes).toMatchObject({
        'subscriptions.command.mode': 'async',
        'subscriptions.command.outcome': 'accepted',
      });
      // Held at the gate: the transaction has started, in the request's trace, and not ended.
      await tracing.waitFor('the transaction to start', (_finished, started) =>
        started.some((span) => span.name === 'process batch' && traceOf(span) === caller.traceId),
      );
    } finally {
      consumerGate.open();
    }
    const tree = await waitForTrace(caller.traceId, ['PURCHASED process', 'process batch']);
    const server = tree.server();
    const batch = tree.named('process batch');
    expect(parentIdOf(tree.named('PURCHASED process'))).toBe(
      idOf(tree.named('publish SUBSCRIPTIONS')),
    );
    expect(parentIdOf(batch)).toBe(idOf(tree.named('PURCHASED process')));
    expect(batch.endTime > server.endTime).toBe(true);
    expectStatements(tree, batch);
    // Nobody waits for a reply to a pure respond-async command: none is sent.
    expect(tree.spans.some((span) => span.name === 'publish <default>')).toBe(false);
  });
});

describe('a batch of several commands', () => {
  let connection: ChannelModel;
  let subscriber: EventSubscriber;

  beforeAll(async () => {
    connection = await amqp.connect(vhost.url);
    subscriber = await openEventSubscriber(vhost.url);
  });

  afterAll(async () => {
    await releaseAll([subscriber?.close(), connection?.close()]);
  });

  it("is one transaction in a trace of its own that links each command's delivery, each linking back; each command replies in its own trace, and a relay started afterwards publishes each event in its request's trace", async () => {
    const userId = await db.createUser();
    const held = callerContext();
    const callers = [callerContext(), callerContext(), callerContext()];
    consumerGate.close();
    let answers;
    try {
      // The first command's transaction is held at the gate; the three after it gather behind.
      const first = api.purchase({ user_id: userId }, { traceparent: held.traceparent });
      await tracing.waitFor('the first transaction to start', (_finished, started) =>
        started.some((span) => span.name === 'process batch' && traceOf(span) === held.traceId),
      );
      const rest = callers.map((caller) =>
        api.purchase({ user_id: userId }, { traceparent: caller.traceparent }),
      );
      await tracing.waitFor('the three deliveries', (_finished, started) =>
        callers.every((caller) =>
          started.some(
            (span) => span.name === 'PURCHASED process' && traceOf(span) === caller.traceId,
          ),
        ),
      );
      consumerGate.open();
      answers = await Promise.all([first, ...rest]);
    } finally {
      consumerGate.open();
    }
    const subscriptionIds = answers.map(
      (answer) => expectSubscription(answer, 201, { user_id: userId, status: 'ACTIVE' }).id,
    );

    const trees = await Promise.all(
      callers.map((caller) =>
        waitForTrace(caller.traceId, [
          'command purchase',
          'PURCHASED process',
          'publish <default>',
        ]),
      ),
    );
    const deliveries = trees.map((tree) => tree.named('PURCHASED process'));
    const batch = await tracing.waitFor('the shared transaction', (finished) =>
      finished.find(
        (span) =>
          span.name === 'process batch' && span.attributes['messaging.batch.message_count'] === 3,
      ),
    );
    expect(batch.parentSpanContext).toBeUndefined();
    for (const tree of trees) {
      expect(tree.spans.some((span) => span.name === 'process batch')).toBe(false);
    }
    expect(batch.links.map((link) => link.context.spanId).sort()).toEqual(
      deliveries.map(idOf).sort(),
    );
    for (const delivery of deliveries) {
      expect(delivery.links.map((link) => link.context.spanId)).toEqual([idOf(batch)]);
    }
    const statements = tracing.finished().filter((span) => parentIdOf(span) === idOf(batch));
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.every((span) => traceOf(span) === traceOf(batch))).toBe(true);
    trees.forEach((tree, index) => {
      expect(parentIdOf(tree.named('publish <default>'))).toBe(
        idOf(deliveries[index] as ReadableSpan),
      );
    });

    // The events wait in the history; a relay that starts now reads each one's trace from there.
    const relayPool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 1 });
    const publisher = createEventPublisher(testLogger);
    await publisher.attach(connection);
    const relay = startEventRelay({
      outbox: createEventOutbox(relayPool),
      publisher,
      logger: testLogger,
      settings: { leadRetryMs: 50 },
    });
    try {
      const published = await Promise.all(
        callers.map((caller) => waitForTrace(caller.traceId, ['publish SUBSCRIPTIONS.EVENTS'])),
      );
      published.forEach((tree, index) => {
        const event = tree.named('publish SUBSCRIPTIONS.EVENTS');
        expect(parentIdOf(event)).toBe(idOf(deliveries[index] as ReadableSpan));
      });
      await subscriber.waitFor(subscriptionIds.length, 10_000);
      callers.forEach((caller, index) => {
        const heard = subscriber.received.find(
          ({ event }) => event.subject === String(subscriptionIds[index + 1]),
        );
        const eventSpan = published[index]?.named('publish SUBSCRIPTIONS.EVENTS');
        expect(heard?.event.traceparent).toBe(
          `00-${caller.traceId}-${idOf(deliveries[index] as ReadableSpan)}-01`,
        );
        expect(heard?.properties.headers?.['traceparent']).toBe(
          `00-${caller.traceId}-${eventSpan ? idOf(eventSpan) : ''}-01`,
        );
      });
    } finally {
      await relay.stop();
      await relayPool.end();
    }
  });
});
