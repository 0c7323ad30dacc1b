import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cloudEventSchema } from '@subscriptions/contracts';
import request from 'supertest';
import { signToken } from '@subscriptions/tools';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { releaseAll } from '../../../test-support/cleanup';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { readHistory } from '../../../test-support/outcomes/events';
import { startInProcessProducer, type InProcessProducer } from '../../../test-support/producer';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';

interface Page {
  data: {
    id: string;
    type: string;
    subject: string;
    data: { subscription: { user_id: number } };
  }[];
  has_more: boolean;
}

describe('GET /api/v1/events', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let producer: InProcessProducer;
  let alice: number;
  let bob: number;
  let tokens: { alice: string; bob: string; admin: string };
  /** Alice's two subscriptions and Bob's one, in order of purchase. */
  let subscriptions: { alice: number[]; bob: number[] };

  const feed = (token: string, query = '') =>
    request(producer.app).get(`/api/v1/events${query}`).auth(token, { type: 'bearer' });

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    producer = await startInProcessProducer({
      amqpUrl: vhost.url,
      database: database.name,
      auth: { secret: SECRET, clockToleranceSeconds: 5 },
    });
    [alice, bob] = [await database.createUser('Alice'), await database.createUser('Bob')];
    const sign = (userId: number, admin = false) =>
      signToken({ secret: SECRET, userId, admin, ttlSeconds: 600 });
    tokens = { alice: await sign(alice), bob: await sign(bob), admin: await sign(1, true) };
    const buy = async (token: string, userId: number) => {
      const res = await request(producer.app)
        .post('/api/v1/subscriptions')
        .auth(token, { type: 'bearer' })
        .send({ user_id: userId })
        .expect(201);
      return res.body.id as number;
    };
    subscriptions = {
      alice: [await buy(tokens.alice, alice), await buy(tokens.alice, alice)],
      bob: [await buy(tokens.bob, bob)],
    };
    const change = (token: string, id: number, body: object, status: number) =>
      request(producer.app)
        .put(`/api/v1/subscriptions/${id}/status`)
        .auth(token, { type: 'bearer' })
        .send(body)
        .expect(status);
    await change(tokens.alice, subscriptions.alice[0] as number, { canceled: true }, 200);
    await change(tokens.bob, subscriptions.bob[0] as number, { canceled: true }, 200);
    // Refused: no event.
    await change(tokens.bob, subscriptions.bob[0] as number, { canceled: true }, 409);
    await change(tokens.alice, subscriptions.alice[0] as number, { restarted: true }, 200);
  });

  afterAll(async () => {
    await producer?.stop();
    await consumer?.stop();
    await releaseAll([vhost?.delete(), database?.drop()]);
  });

  it('gives an admin every event as its CloudEvent, oldest first', async () => {
    const { body } = await feed(tokens.admin, '?limit=100').expect(200);
    const page = body as Page;
    const history = await readHistory(database.pool);
    expect(page.data.map((event) => Number(event.id))).toEqual(history.map((row) => row.id));
    expect(page.has_more).toBe(false);
    for (const event of page.data) expect(cloudEventSchema.parse(event)).toEqual(event);
    expect(page.data.map((event) => event.type)).toEqual([
      'subscription.purchased',
      'subscription.purchased',
      'subscription.purchased',
      'subscription.canceled',
      'subscription.canceled',
      'subscription.restarted',
    ]);
  });

  it('gives any other caller the events of its own subscriptions only', async () => {
    const mine = (await feed(tokens.alice, '?limit=100').expect(200)).body as Page;
    expect(new Set(mine.data.map((event) => event.data.subscription.user_id))).toEqual(
      new Set([alice]),
    );
    expect(mine.data).toHaveLength(4);
    // Naming another's subscription finds nothing, as if it did not exist.
    const theirs = await feed(tokens.alice, `?subscription_id=${subscriptions.bob[0]}`).expect(200);
    expect(theirs.body).toEqual({ data: [], has_more: false });
  });

  it('pages with starting_after and limit, and filters by subscription and type', async () => {
    const all = ((await feed(tokens.admin, '?limit=100').expect(200)).body as Page).data;
    const first = (await feed(tokens.admin, '?limit=2').expect(200)).body as Page;
    expect(first.data).toEqual(all.slice(0, 2));
    expect(first.has_more).toBe(true);
    const next = (
      await feed(tokens.admin, `?limit=2&starting_after=${first.data[1]?.id}`).expect(200)
    ).body as Page;
    expect(next.data).toEqual(all.slice(2, 4));

    const one = (await feed(tokens.admin, `?subscription_id=${subscriptions.alice[0]}`).expect(200))
      .body as Page;
    expect(one.data.map((event) => event.type)).toEqual([
      'subscription.purchased',
      'subscription.canceled',
      'subscription.restarted',
    ]);
    const canceled = (await feed(tokens.admin, '?type=subscription.canceled').expect(200))
      .body as Page;
    expect(canceled.data.map((event) => Number(event.subject))).toEqual([
      subscriptions.alice[0],
      subscriptions.bob[0],
    ]);
    const last = all.at(-1)?.id;
    expect((await feed(tokens.admin, `?starting_after=${last}`).expect(200)).body).toEqual({
      data: [],
      has_more: false,
    });
  });

  it.each([
    ['?limit=0', '/limit'],
    ['?limit=101', '/limit'],
    ['?starting_after=-1', '/starting_after'],
    ['?type=SUBSCRIPTION_CANCELED', '/type'],
    ['?subscription_id=abc', '/subscription_id'],
    ['?since=1', '/since'],
  ])('refuses %s with 400 naming %s', async (query, pointer) => {
    const res = await feed(tokens.admin, query).expect(400);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer })]));
  });

  it('needs a token', async () => {
    const res = await request(producer.app).get('/api/v1/events').expect(401);
    expect(res.body.code).toBe('unauthorized');
  });
});
