import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { releaseAll } from '../test-support/cleanup';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import { createApi, expectSubscription, type Api } from '../test-support/http/api';
import { type EventSubscriber, openEventSubscriber } from '../test-support/outcomes/events';
import type { LogLine } from '../test-support/processes/node-process';
import {
  type Consumer,
  type Producer,
  startConsumer,
  startProducer,
} from '../test-support/processes/services';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from '../test-support/tracing/otlp-receiver';

/**
 * Both processes built and run as deployed, tracing to an OTLP/HTTP receiver of the test's own:
 * the producer posts JSON, the consumer protobuf. A request sent with a caller's `traceparent`
 * is one trace from the HTTP request to MySQL and back, and on to its event.
 */

const LOADED_MODULES_PROBE = path.join(
  __dirname,
  '../test-support/tracing/report-loaded-modules.js',
);

/** Spans go out every 100 ms rather than every 5 s, so the test waits less. */
const QUICK_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '100' };

let receiver: OtlpReceiver;
let db: TestDatabase;
let vhost: TestVhost;
let consumer: Consumer | undefined;
let producer: Producer | undefined;
let subscriber: EventSubscriber | undefined;
let api: Api;

beforeAll(async () => {
  [receiver, db, vhost] = await Promise.all([
    startOtlpReceiver(),
    createTestDatabase(),
    createTestVhost(),
  ]);
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...QUICK_EXPORT };
  consumer = await startConsumer({
    amqpUrl: vhost.url,
    database: db.name,
    env: { ...tracing, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' },
  });
  producer = await startProducer({
    amqpUrl: vhost.url,
    database: db.name,
    env: { ...tracing, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' },
  });
  subscriber = await openEventSubscriber(vhost.url);
  api = createApi(producer.baseUrl);
});

afterAll(async () => {
  await releaseAll([producer?.stop(), consumer?.stop(), subscriber?.close()]);
  await releaseAll([vhost?.delete(), db?.drop(), receiver?.close()]);
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** The log lines a process wrote in `traceId`. */
const linesOf = (lines: readonly LogLine[], traceId: string) =>
  lines.filter((line) => line['trace_id'] === traceId);

function only(spans: ReceivedSpan[], matches: (span: ReceivedSpan) => boolean, what: string) {
  const found = spans.filter(matches);
  if (found.length !== 1) {
    throw new Error(`${found.length} spans ${what}: ${spans.map((s) => s.name).join(', ')}`);
  }
  return found[0] as ReceivedSpan;
}

describe('tracing across both processes', () => {
  it("puts a purchase sent with a caller's traceparent in one trace: the producer's and the consumer's spans, the event's headers and both processes' log lines", async () => {
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const userId = await db.createUser();
    const answer = await api.purchase(
      { user_id: userId },
      { traceparent: `00-${traceId}-${callerSpanId}-01` },
    );
    const { id } = expectSubscription(answer, 201, { user_id: userId, status: 'ACTIVE' });

    // The last span of the trace is the relay's publish of the event, after the commit.
    const spans = await receiver.waitFor('the event published in the trace', (all) => {
      const trace = all.filter((span) => span.traceId === traceId);
      return trace.some((span) => span.name === 'publish SUBSCRIPTIONS.EVENTS') && trace;
    });
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const parentOf = (span: ReceivedSpan) => byId.get(span.parentSpanId);

    const server = only(spans, (s) => s.kind === 'server', 'of the HTTP server');
    expect(server).toMatchObject({
      service: 'subscriptions-producer',
      name: 'POST /api/v1/subscriptions',
      parentSpanId: callerSpanId,
      attributes: expect.objectContaining({
        'http.route': '/api/v1/subscriptions',
        'http.response.status_code': 201,
      }),
    });
    const command = only(spans, (s) => s.name === 'command purchase', 'of the command');
    expect(command.attributes).toMatchObject({
      'subscriptions.command.outcome': 'ok',
      'subscriptions.command.mode': 'sync',
    });
    const publish = only(spans, (s) => s.name === 'publish SUBSCRIPTIONS', 'of its publish');
    expect(parentOf(publish)).toBe(command);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'SUBSCRIPTIONS',
      'messaging.rabbitmq.destination.routing_key': 'SUBSCRIPTIONS_PURCHASED',
    });

    const delivery = only(spans, (s) => s.name === 'PURCHASED process', 'of its delivery');
    expect(delivery).toMatchObject({ service: 'subscriptions-consumer', kind: 'consumer' });
    expect(parentOf(delivery)).toBe(publish);
    const batch = only(spans, (s) => s.name === 'process batch', 'of its transaction');
    expect(parentOf(batch)).toBe(delivery);
    const statements = spans.filter((span) => parentOf(span) === batch);
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      expect(statement).toMatchObject({
        kind: 'client',
        attributes: expect.objectContaining({ 'db.system.name': 'mysql' }),
      });
    }
    expect(statements.map((s) => s.attributes['db.query.text']).join('\n')).toMatch(/COMMIT/);

    const reply = only(spans, (s) => s.name === 'publish <default>', 'of the reply');
    expect(parentOf(reply)).toBe(delivery);
    const replyReceived = only(
      spans,
      (s) => s.name === 'amq.rabbitmq.reply-to process',
      'of the reply received',
    );
    expect(replyReceived.service).toBe('subscriptions-producer');
    expect(parentOf(replyReceived)).toBe(reply);
    const event = only(spans, (s) => s.name === 'publish SUBSCRIPTIONS.EVENTS', 'of the event');
    expect(parentOf(event)).toBe(delivery);

    // The event as a subscriber hears it: the trace in its headers and in the CloudEvent.
    await subscriber?.waitFor(1, 10_000);
    const heard = subscriber?.received.find(({ event }) => event.subject === String(id));
    expect(heard?.properties.headers?.['traceparent']).toBe(`00-${traceId}-${event.spanId}-01`);
    expect(heard?.event.traceparent).toBe(`00-${traceId}-${delivery.spanId}-01`);

    // Each process's log lines of the request carry its trace.
    expect(linesOf(producer?.logLines() ?? [], traceId)).toContainEqual(
      expect.objectContaining({ msg: 'request', status: 201 }),
    );
    expect(linesOf(consumer?.logLines() ?? [], traceId)).toContainEqual(
      expect.objectContaining({ msg: 'command processed', span_id: delivery.spanId }),
    );
    expect(receiver.requests().json).toBeGreaterThan(0);
    expect(receiver.requests().protobuf).toBeGreaterThan(0);
  });

  it('loads no part of the OpenTelemetry SDK in a process without an endpoint, and all of it with one', async () => {
    const loaded = async (env: Record<string, string>) => {
      const probe = await startProducer({
        amqpUrl: vhost.url,
        database: db.name,
        env,
        nodeArgs: ['--require', LOADED_MODULES_PROBE],
      });
      await probe.stop();
      const line = probe.logLines().find((logged) => logged.msg === 'loaded packages');
      return line?.['opentelemetry'] as string[];
    };
    const off = await loaded({});
    expect(off.filter((name) => !name.startsWith('@opentelemetry/api'))).toEqual([]);
    const on = await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(on).toEqual(
      expect.arrayContaining([
        '@opentelemetry/sdk-trace-node',
        '@opentelemetry/exporter-trace-otlp-proto',
        '@opentelemetry/instrumentation-amqplib',
      ]),
    );
  });
});
