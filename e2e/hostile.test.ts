import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DEAD_LETTER_QUEUE,
  EXCHANGE,
  QUEUES,
  purchaseCommandSchema,
  routingKeyFor,
  subscriptionCommandSchema,
} from '@subscriptions/contracts';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import fc from 'fast-check';
import { signToken } from '@subscriptions/tools';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import { fuzzParameters } from '../test-support/fuzz';
import { countRows } from '../test-support/outcomes/rows';
import { releaseAll } from '../test-support/cleanup';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

const SECRET = 'an-e2e-secret-that-is-longer-than-32-bytes';
const HTTP_CASES = 300;
const MESSAGE_CASES = 200;

/** The first `count` code points: slicing UTF-16 units could split a pair, which no URL can carry. */
function firstCodePoints(text: string, count: number): string {
  return Array.from(text).slice(0, count).join('');
}

describe('hostile input against the running processes', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let consumer: ServiceProcess | undefined;
  let producer: Producer | undefined;
  let connection: ChannelModel | undefined;
  let channel: Channel;
  let adminToken: string;
  let userId: number;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    consumer = await startConsumer({ amqpUrl: vhost.url, database: db.name });
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: db.name,
      env: { AUTH_DISABLED: 'false', AUTH_JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: '0' },
    });
    adminToken = await signToken({ secret: SECRET, userId: 1, admin: true, ttlSeconds: 600 });
    userId = await db.createUser();
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await connection?.close();
    await releaseAll([producer?.stop(), consumer?.stop()]);
    await releaseAll([db?.drop(), vhost?.delete()]);
  });

  it('random bodies, headers and paths over HTTP get 4xx, write nothing, and the producer stays up', async () => {
    const before = await countRows(db.pool);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST', 'PUT', 'GET'),
        fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 300 })),
        fc.oneof(fc.constant(undefined), fc.string({ unit: 'grapheme-ascii', maxLength: 60 })),
        fc.boolean(),
        async (method, body, idempotencyKey, withToken) => {
          const path =
            method === 'POST'
              ? '/api/v1/subscriptions'
              : `/api/v1/subscriptions/${encodeURIComponent(firstCodePoints(body, 20)) || 'x'}${method === 'PUT' ? '/status' : ''}`;
          let valid: boolean;
          try {
            valid = purchaseCommandSchema.safeParse(JSON.parse(body)).success;
          } catch {
            valid = false;
          }
          fc.pre(!(withToken && method === 'POST' && valid));
          const headers: Record<string, string> = { 'Content-Type': 'application/json' };
          if (withToken) headers['Authorization'] = `Bearer ${adminToken}`;
          if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
          const res = await fetch(`${producer!.baseUrl}${path}`, {
            method,
            headers,
            ...(method === 'GET' ? {} : { body }),
          });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          await res.arrayBuffer();
          expect(res.status >= 400 && res.status < 500).toBe(true);
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        },
      ),
      fuzzParameters(HTTP_CASES),
    );
    console.log(
      `hostile HTTP: ${HTTP_CASES} cases, by status ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );
    expect(await countRows(db.pool)).toEqual(before);
    expect((await fetch(`${producer!.baseUrl}/healthz`)).status).toBe(200);
  });

  it('hostile messages published straight to the queues are dead-lettered and the consumer keeps serving', async () => {
    await channel.purgeQueue(DEAD_LETTER_QUEUE);
    const before = await countRows(db.pool);
    const sampling = fuzzParameters(MESSAGE_CASES);
    const messages = fc
      .sample(
        fc.record({
          queue: fc.constantFrom(...QUEUES),
          content: fc.oneof(
            fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
            fc.json({ maxDepth: 3 }).map((text) => Buffer.from(text)),
            fc.constantFrom(
              Buffer.from('{"user_id":"1; DROP TABLE subscription"}'),
              Buffer.from('{"subscription_id":1e309}'),
              Buffer.from('{"__proto__":{"user_id":1}}'),
              Buffer.from('{"user_id":1,"extra":true}'),
            ),
          ),
          headers: fc.dictionary(
            fc.constantFrom(
              'x-deadline',
              'x-acting-user-id',
              'x-idempotency-key',
              'x-request-id',
              'x-junk',
            ),
            fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
          ),
        }),
        sampling,
      )
      .filter(({ queue, content }) => {
        // Keep only messages the consumer must refuse as poison.
        try {
          const json: unknown = JSON.parse(content.toString('utf8'));
          const schema = queue === 'PURCHASED' ? purchaseCommandSchema : subscriptionCommandSchema;
          return !schema.safeParse(json).success;
        } catch {
          return true;
        }
      });
    for (const { queue, content, headers } of messages) {
      channel.publish(EXCHANGE, routingKeyFor(queue), content, {
        headers,
        messageId: randomUUID(),
        persistent: true,
      });
    }
    const deadline = Date.now() + 20_000;
    let parked = 0;
    while (Date.now() < deadline) {
      parked = (await channel.checkQueue(DEAD_LETTER_QUEUE)).messageCount;
      if (parked >= messages.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(
      `hostile messages (FUZZ_SEED=${sampling.seed}): ${messages.length} published, ${parked} dead-lettered`,
    );
    expect(parked).toBe(messages.length);

    const res = await fetch(`${producer!.baseUrl}/api/v1/subscriptions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ user_id: userId }),
    });
    expect(res.status).toBe(201);
    const after = await countRows(db.pool);
    expect(after.subscriptions).toBe(before.subscriptions + 1);
  });
});
