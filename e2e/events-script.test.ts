import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CLOUD_EVENT_TYPES,
  CLOUD_EVENTS_CONTENT_TYPE,
  EVENT_SOURCE,
  EVENTS_EXCHANGE,
  HEADER_REQUEST_ID,
  type CloudEvent,
  type CloudEventType,
} from '@subscriptions/contracts';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { releaseAll } from '../test-support/cleanup';
import { closedPort } from '../test-support/ports';
import { spawnNodeProcess, type NodeProcess } from '../test-support/processes/node-process';

/** What `npm run events` runs, built. */
const TOOLS = path.resolve(__dirname, '../tools/dist/main.js');

function cloudEvent(
  id: number,
  type: CloudEventType,
  status: 'ACTIVE' | 'CANCELED',
  version: number,
): CloudEvent {
  const time = new Date(Date.UTC(2026, 10, 2, 9, 30, version)).toISOString();
  return {
    specversion: '1.0',
    id: String(id),
    source: EVENT_SOURCE,
    type,
    subject: '42',
    time,
    datacontenttype: 'application/json',
    data: {
      subscription: {
        id: 42,
        user_id: 7,
        status,
        created_at: '2026-11-02T09:30:00.000Z',
        updated_at: version === 0 ? null : time,
      },
      version,
    },
  };
}

const purchased = cloudEvent(101, CLOUD_EVENT_TYPES.SUBSCRIPTION_PURCHASED, 'ACTIVE', 0);
const canceled = cloudEvent(117, CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED, 'CANCELED', 1);
const restarted = cloudEvent(133, CLOUD_EVENT_TYPES.SUBSCRIPTION_RESTARTED, 'ACTIVE', 2);
const canceledAgain = cloudEvent(150, CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED, 'CANCELED', 3);

describe('npm run events', () => {
  let vhost: TestVhost;
  let connection: ChannelModel;
  let channel: ConfirmChannel;
  let running: NodeProcess[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost();
    connection = await amqp.connect(vhost.url);
    channel = await connection.createConfirmChannel();
  });

  afterEach(async () => {
    // A test that failed half-way leaves its subscriber running: gone before the vhost is.
    await releaseAll(running.map((events) => events.kill()));
    running = [];
  });

  afterAll(async () => {
    await connection?.close();
    await vhost?.delete();
  });

  function startEvents(args: string[], amqpUrl = vhost.url): NodeProcess {
    const events = spawnNodeProcess({
      name: 'events',
      entry: TOOLS,
      args: ['events', ...args],
      env: { AMQP_URL: amqpUrl },
    });
    running.push(events);
    return events;
  }

  /** Publishes as the consumer does: persistent, confirmed, the event id as the message id. */
  async function publish(
    routingKey: string,
    body: string,
    options: { messageId: string; requestId?: string },
  ): Promise<void> {
    channel.publish(EVENTS_EXCHANGE, routingKey, Buffer.from(body), {
      persistent: true,
      contentType: CLOUD_EVENTS_CONTENT_TYPE,
      messageId: options.messageId,
      headers: options.requestId === undefined ? {} : { [HEADER_REQUEST_ID]: options.requestId },
    });
    await channel.waitForConfirms();
  }

  const publishEvent = (event: CloudEvent, requestId?: string) =>
    publish(event.type, JSON.stringify(event), { messageId: event.id, requestId });

  it('prints one line per event, says which message is not an event, and exits 0 on SIGTERM', async () => {
    const events = startEvents([]);
    await events.waitForMessage(`listening for all events on ${EVENTS_EXCHANGE}`);

    await publishEvent(purchased, 'request-1');
    await publishEvent(canceled, 'request-2');
    await publish(CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED, 'not json', { messageId: '999' });
    await publish(
      CLOUD_EVENT_TYPES.SUBSCRIPTION_RESTARTED,
      JSON.stringify({ ...restarted, id: 'x' }),
      {
        messageId: 'x',
      },
    );
    await publishEvent(restarted);

    const expected = [
      '2026-11-02T09:30:00.000Z subscription.purchased subscription=42 status=ACTIVE version=0 event=101 request=request-1',
      '2026-11-02T09:30:01.000Z subscription.canceled  subscription=42 status=CANCELED version=1 event=117 request=request-2',
      '2026-11-02T09:30:02.000Z subscription.restarted subscription=42 status=ACTIVE version=2 event=133 request=-',
    ];
    for (const line of expected) await events.waitForMessage(line);
    await events.waitForMessage(
      'events: not a valid event (routing key subscription.canceled, message_id 999): body is not JSON: "not json"',
    );
    await events.waitForLine(
      (line) =>
        typeof line.msg === 'string' &&
        line.msg.startsWith(
          'events: not a valid event (routing key subscription.restarted, message_id x): id: ',
        ),
      'the event with a bad id',
    );
    const printed = events.logLines().map((line) => line.msg);
    expect(printed.filter((line) => expected.includes(String(line)))).toEqual(expected);

    await events.stop();
    expect(await events.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it('--json with a pattern prints each matching event as its CloudEvent on one line, and exits 0 on SIGINT', async () => {
    const events = startEvents(['--json', CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED]);
    await events.waitForMessage(
      `listening for ${CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED} events on ${EVENTS_EXCHANGE}`,
    );

    for (const event of [purchased, canceled, restarted, canceledAgain]) {
      await publishEvent(event, `request-${event.id}`);
    }
    await events.waitForLine((line) => line['id'] === canceledAgain.id, 'the last canceled event');

    const jsonLines = events
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'));
    expect(jsonLines).toEqual([JSON.stringify(canceled), JSON.stringify(canceledAgain)]);

    process.kill(events.pid, 'SIGINT');
    expect(await events.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it('exits 1 naming the broker it tried and AMQP_URL when RabbitMQ is not there', async () => {
    const port = await closedPort();
    const events = startEvents([], `amqp://guest:guest@127.0.0.1:${port}`);
    expect(await events.waitForExit()).toEqual({ code: 1, signal: null });
    const output = events.output();
    expect(output).toContain(`cannot reach RabbitMQ at 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(output).toContain('AMQP_URL');
    expect(output).not.toMatch(/^\s+at /m);
  });
});
