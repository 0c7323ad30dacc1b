import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RecoveringChannelModel } from 'amqplib';
import type { RowDataPacket } from 'mysql2/promise';
import request from 'supertest';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { startInProcessProducer } from '../../../test-support/producer';
import { type RpcClient } from '../../src/broker/rpc-client';

function startProducer(amqpUrl: string, database: string, timeoutMs = 5_000) {
  return startInProcessProducer({ amqpUrl, database, timeoutMs });
}

const problemJson = /^application\/problem\+json/;

describe('producer app over the real broker, with the real consumer', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let producer: Awaited<ReturnType<typeof startProducer>>;
  let userId: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    producer = await startProducer(vhost.url, database.name);
    userId = await database.createUser();
  });

  afterAll(async () => {
    await producer?.stop();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  it('POST creates a subscription: 201, Location and the ACTIVE subscription', async () => {
    const res = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: userId })
      .expect(201);
    expect(res.body).toEqual({
      id: expect.any(Number),
      user_id: userId,
      status: 'ACTIVE',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: null,
    });
    expect(res.headers['location']).toBe(`/api/v1/subscriptions/${res.body.id}`);
  });

  it('accepts a trailing slash on the collection', async () => {
    await request(producer.app)
      .post('/api/v1/subscriptions/')
      .send({ user_id: userId })
      .expect(201);
  });

  it('PUT cancels and restarts, answering the subscription with its new status', async () => {
    const { body: created } = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: userId });
    const canceled = await request(producer.app)
      .put(`/api/v1/subscriptions/${created.id}/status`)
      .send({ canceled: true })
      .expect(200);
    expect(canceled.body).toMatchObject({ id: created.id, status: 'CANCELED' });
    const restarted = await request(producer.app)
      .put(`/api/v1/subscriptions/${created.id}/status`)
      .send({ restarted: true })
      .expect(200);
    expect(restarted.body).toMatchObject({ id: created.id, status: 'ACTIVE' });
  });

  it('an invalid transition answers 409 problem+json with current_status', async () => {
    const { body: created } = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: userId });
    const res = await request(producer.app)
      .put(`/api/v1/subscriptions/${created.id}/status`)
      .set('X-Request-Id', 'trace-409')
      .send({ restarted: true })
      .expect(409)
      .expect('Content-Type', problemJson);
    expect(res.body).toEqual({
      type: 'urn:subscriptions:problem:invalid_transition',
      title: expect.any(String),
      status: 409,
      detail: expect.any(String),
      code: 'invalid_transition',
      request_id: 'trace-409',
      current_status: 'ACTIVE',
    });
    expect(res.headers['x-request-id']).toBe('trace-409');
  });

  it('an unknown subscription answers 404 and an unknown user 422', async () => {
    const missing = await request(producer.app)
      .put('/api/v1/subscriptions/999999999/status')
      .send({ canceled: true })
      .expect(404);
    expect(missing.body.code).toBe('subscription_not_found');
    const nobody = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: 999_999_999 })
      .expect(422);
    expect(nobody.body.code).toBe('user_not_found');
  });

  it('invalid input answers 400/413/415 without publishing anything', async () => {
    const [[before]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM event_history',
    );
    const post = () => request(producer.app).post('/api/v1/subscriptions');
    expect((await post().set('Content-Type', 'application/json').send('{"user_id":')).status).toBe(
      400,
    );
    expect((await post().send({ user_id: '1' })).body.errors).toEqual([
      { in: 'body', pointer: '/user_id', detail: expect.any(String) },
    ]);
    expect((await post().send({ user_id: userId, role: 'admin' })).status).toBe(400);
    expect((await post().send({ user_id: 'x'.repeat(17_000) })).status).toBe(413);
    expect((await post().set('Content-Type', 'text/plain').send('user_id=1')).status).toBe(415);
    expect((await post()).status).toBe(415);
    const put = () => request(producer.app).put('/api/v1/subscriptions/1/status');
    expect((await put().send({ canceled: true, restarted: true })).status).toBe(400);
    expect((await put().send({})).status).toBe(400);
    expect((await put().send({ canceled: 'true' })).status).toBe(400);
    expect(
      (await request(producer.app).put('/api/v1/subscriptions/abc/status').send({ canceled: true }))
        .body.errors,
    ).toEqual([{ in: 'path', pointer: '/id', detail: expect.any(String) }]);
    const [[after]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM event_history',
    );
    expect(after?.['n']).toBe(before?.['n']);
  });

  describe('Idempotency-Key', () => {
    const purchaseWithKey = (key: string, body: object = { user_id: userId }) =>
      request(producer.app).post('/api/v1/subscriptions').set('Idempotency-Key', key).send(body);

    it('a repeat of a completed request replays its status and body, marked replayed', async () => {
      const key = `k-${Date.now()}-a`;
      const first = await purchaseWithKey(key).expect(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const again = await purchaseWithKey(key).expect(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
      expect(again.headers['location']).toBe(first.headers['location']);
      const [[row]] = await database.pool.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM event_history WHERE subscription_id = ?',
        [first.body.id],
      );
      expect(row?.['n']).toBe(1);
    });

    it('a refusal is replayed too, with the same status', async () => {
      const key = `k-${Date.now()}-b`;
      const { body: created } = await purchaseWithKey(`${key}-setup`);
      const restart = () =>
        request(producer.app)
          .put(`/api/v1/subscriptions/${created.id}/status`)
          .set('Idempotency-Key', key)
          .send({ restarted: true });
      await restart().expect(409);
      const again = await restart().expect(409);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body.current_status).toBe('ACTIVE');
    });

    it('the same key with a different request answers 422 and writes nothing', async () => {
      const key = `k-${Date.now()}-c`;
      await purchaseWithKey(key).expect(201);
      const other = await purchaseWithKey(key, { user_id: 999_999_998 }).expect(422);
      expect(other.body.code).toBe('idempotency_key_reused');
    });

    it('a repeat while the first is still in flight answers 409', async () => {
      const key = `k-${Date.now()}-d`;
      const [a, b] = await Promise.all([purchaseWithKey(key), purchaseWithKey(key)]);
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      const conflict = a.status === 409 ? a : b;
      expect(conflict.body.code).toBe('idempotency_key_in_flight');
    });

    it('a key that is empty or longer than 255 characters answers 400', async () => {
      const long = await purchaseWithKey('x'.repeat(256)).expect(400);
      expect(long.body.errors).toEqual([
        { in: 'header', pointer: '/Idempotency-Key', detail: expect.any(String) },
      ]);
      await purchaseWithKey('').expect(400);
    });
  });

  it('an unknown route answers 404 problem+json', async () => {
    const res = await request(producer.app).delete('/api/v1/subscriptions/1').expect(404);
    expect(res.body.code).toBe('route_not_found');
    expect(res.headers['content-type']).toMatch(problemJson);
  });

  it('/metrics exposes request latency by route template and RPC outcomes', async () => {
    await request(producer.app).post('/api/v1/subscriptions').send({ user_id: userId }).expect(201);
    const res = await request(producer.app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(
      /subscriptions_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/subscriptions",status_code="201"\} [1-9]/,
    );
    expect(res.text).toMatch(
      /subscriptions_http_request_duration_seconds_count\{method="PUT",route="\/api\/v1\/subscriptions\/:id\/status",status_code="409"\} [1-9]/,
    );
    expect(res.text).toMatch(
      /subscriptions_rpc_duration_seconds_count\{command="purchase",outcome="ok"\} [1-9]/,
    );
    expect(res.text).toMatch(/subscriptions_rpc_pending_calls 0/);
    expect(res.text).toMatch(/process_resident_memory_bytes/);
  });

  it('/healthz and /readyz answer 200 while connected', async () => {
    await request(producer.app).get('/healthz').expect(200);
    await request(producer.app).get('/readyz').expect(200);
  });
});

describe('producer app when nothing answers', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let producer: Awaited<ReturnType<typeof startProducer>>;
  let rpc: RpcClient;
  let connection: RecoveringChannelModel;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    producer = await startProducer(vhost.url, database.name, 800);
    ({ rpc, connection } = producer);
  });

  afterAll(async () => {
    await producer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  it('with no queue bound, a command is unroutable and answers 503 at once, with Retry-After', async () => {
    const started = Date.now();
    const res = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: 1 })
      .expect(503);
    expect(Date.now() - started).toBeLessThan(800);
    expect(res.body.code).toBe('broker_unavailable');
    expect(res.headers['retry-after']).toBe('2');
    expect(rpc.pendingCount()).toBe(0);
  });

  it('with a queue but no consumer, a command answers 504 at the deadline and leaves no entry', async () => {
    const channel = await connection.createChannel();
    await channel.assertQueue('PURCHASED', {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    await channel.bindQueue('PURCHASED', 'SUBSCRIPTIONS', 'SUBSCRIPTIONS_PURCHASED');
    const started = Date.now();
    const res = await request(producer.app)
      .post('/api/v1/subscriptions')
      .send({ user_id: 1 })
      .expect(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    expect(res.body.code).toBe('reply_timeout');
    expect(rpc.pendingCount()).toBe(0);
    await channel.close();
  });
});
