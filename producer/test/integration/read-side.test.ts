import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createReadPool, createSubscriptionQueries } from '@subscriptions/store';
import type { ResultSetHeader } from 'mysql2/promise';
import request from 'supertest';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { testLogger } from '../../../test-support/logger';
import { COMMAND_SETTINGS } from '../../../test-support/producer';
import { createApp } from '../../src/app';
import { createAuthenticator } from '../../src/http/auth';
import { createProducerMetrics } from '../../src/metrics';
import type { RpcClient } from '../../src/broker/rpc-client';

/** Reads never publish: an RPC client that fails the test if a read route calls it. */
const noCommands: Pick<RpcClient, 'call' | 'submit'> = {
  call: () => Promise.reject(new Error('a read route sent a command')),
  submit: () => Promise.reject(new Error('a read route sent a command')),
};

describe('read side against the real database', () => {
  let database: TestDatabase;
  let readPool: ReturnType<typeof createReadPool>;
  let app: ReturnType<typeof createApp>;
  let alice: number;
  let bob: number;
  const aliceIds: number[] = [];

  async function insertSubscription(userId: number, statusId: 1 | 2): Promise<number> {
    const [result] = await database.pool.execute<ResultSetHeader>(
      'INSERT INTO subscription (user_id, status_id, created_at) VALUES (?, ?, UTC_TIMESTAMP(3))',
      [userId, statusId],
    );
    return result.insertId;
  }

  async function insertEvent(subscriptionId: number, type: string): Promise<void> {
    await database.pool.execute(
      'INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, ?, UTC_TIMESTAMP(3))',
      [subscriptionId, type],
    );
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    readPool = createReadPool({ ...mysqlServer, database: database.name, connectionLimit: 2 });
    app = createApp({
      ...COMMAND_SETTINGS,
      rpc: noCommands,
      queries: createSubscriptionQueries(readPool),
      logger: testLogger,
      metrics: createProducerMetrics({ pendingCalls: () => 0 }),
      authenticate: createAuthenticator({ disabled: true }),
      rateLimitPerMinute: 0,
      isReady: async () => true,
    });
    alice = await database.createUser('Alice');
    bob = await database.createUser('Bob');
    // Alice: five subscriptions, the 2nd and 4th canceled. Bob: one.
    for (let i = 0; i < 5; i += 1) {
      aliceIds.push(await insertSubscription(alice, i % 2 === 1 ? 2 : 1));
    }
    await insertSubscription(bob, 1);
  });

  afterAll(async () => {
    await readPool?.end();
    await database?.drop();
  });

  it('GET /subscriptions/{id} answers the subscription', async () => {
    const id = aliceIds[1];
    const res = await request(app).get(`/api/v1/subscriptions/${id}`).expect(200);
    expect(res.body).toEqual({
      id,
      user_id: alice,
      status: 'CANCELED',
      created_at: expect.stringMatching(/Z$/),
      updated_at: null,
    });
  });

  it('GET /subscriptions/{id} of an unknown id answers 404 problem+json', async () => {
    const res = await request(app).get('/api/v1/subscriptions/999999999').expect(404);
    expect(res.body.code).toBe('subscription_not_found');
  });

  it('GET /subscriptions/{id}/history lists every event oldest first', async () => {
    const id = aliceIds[0] ?? 0;
    for (const type of [
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
    ]) {
      await insertEvent(id, type);
    }
    const res = await request(app).get(`/api/v1/subscriptions/${id}/history`).expect(200);
    expect(res.body.data.map((event: { type: string }) => event.type)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
    ]);
    expect(res.body.data[0]).toEqual({
      id: expect.any(Number),
      subscription_id: id,
      type: 'SUBSCRIPTION_PURCHASED',
      created_at: expect.stringMatching(/Z$/),
    });
    const ids = res.body.data.map((event: { id: number }) => event.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('the history of a subscription without events is empty, of an unknown one 404', async () => {
    const res = await request(app).get(`/api/v1/subscriptions/${aliceIds[4]}/history`).expect(200);
    expect(res.body).toEqual({ data: [] });
    await request(app).get('/api/v1/subscriptions/999999999/history').expect(404);
  });

  it('the list filters by user and status', async () => {
    const res = await request(app)
      .get('/api/v1/subscriptions')
      .query({ user_id: alice, status: 'CANCELED' })
      .expect(200);
    expect(res.body).toEqual({
      data: [
        expect.objectContaining({ id: aliceIds[1], status: 'CANCELED' }),
        expect.objectContaining({ id: aliceIds[3], status: 'CANCELED' }),
      ],
      has_more: false,
    });
  });

  it('pages through a user’s subscriptions with starting_after until has_more is false', async () => {
    const seen: number[] = [];
    let cursor: number | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const res = await request(app)
        .get('/api/v1/subscriptions')
        .query({ user_id: alice, limit: 2, ...(cursor ? { starting_after: cursor } : {}) })
        .expect(200);
      const ids = res.body.data.map((subscription: { id: number }) => subscription.id);
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      cursor = ids.at(-1);
      if (!res.body.has_more) break;
    }
    expect(seen).toEqual(aliceIds);
  });

  it('lists 20 by default and never another user’s subscription under a user filter', async () => {
    const res = await request(app).get('/api/v1/subscriptions').query({ user_id: bob }).expect(200);
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0].user_id).toBe(bob);
    const all = await request(app).get('/api/v1/subscriptions').expect(200);
    expect(all.body.data).toHaveLength(6);
    expect(all.body.has_more).toBe(false);
  });

  it.each([
    ['limit=0'],
    ['limit=101'],
    ['limit=abc'],
    ['limit=1.5'],
    ['status=PAUSED'],
    ['user_id=-1'],
    ['user_id=1&user_id=2'],
    ['starting_after=x'],
    ['sort=id'],
  ])('an invalid query (%s) answers 400 naming the parameter', async (query) => {
    const res = await request(app).get(`/api/v1/subscriptions?${query}`).expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors[0]).toEqual(
      expect.objectContaining({ in: 'query', pointer: expect.stringMatching(/^\//) }),
    );
  });

  it('the read pool cannot write, so the read side can never change data', async () => {
    await expect(
      readPool.query('INSERT INTO `user` (full_name) VALUES (?)', ['Mallory']),
    ).rejects.toMatchObject({ errno: 1792 });
  });

  it('an invalid path id answers 400 on every read route', async () => {
    await request(app).get('/api/v1/subscriptions/abc').expect(400);
    await request(app).get('/api/v1/subscriptions/0/history').expect(400);
  });
});

describe('read side when the database is unreachable', () => {
  it('answers 503 database_unavailable with Retry-After, and readiness says so', async () => {
    // A port where nothing listens: the pool fails to connect at once.
    const readPool = createReadPool({
      ...mysqlServer,
      port: 1,
      database: 'nowhere',
      connectionLimit: 1,
    });
    const queries = createSubscriptionQueries(readPool);
    const app = createApp({
      ...COMMAND_SETTINGS,
      rpc: noCommands,
      queries,
      logger: testLogger,
      metrics: createProducerMetrics({ pendingCalls: () => 0 }),
      authenticate: createAuthenticator({ disabled: true }),
      rateLimitPerMinute: 0,
      isReady: () =>
        queries.ping().then(
          () => true,
          () => false,
        ),
    });
    const res = await request(app).get('/api/v1/subscriptions/1').expect(503);
    expect(res.body.code).toBe('database_unavailable');
    expect(res.headers['retry-after']).toBe('2');
    await request(app).get('/readyz').expect(503);
    await readPool.end();
  });
});
