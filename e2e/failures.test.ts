import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import {
  type Api,
  type ApiResponse,
  createApi,
  expectProblem,
  expectSubscription,
} from '../test-support/http/api';
import { countRows, listSubscriptionIds } from '../test-support/outcomes/rows';
import { releaseAll } from '../test-support/cleanup';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

/** Short, so that waiting out a deadline costs little. */
const SHORT_RPC_TIMEOUT_MS = 1_500;
/** Long, so that an answer before it cannot be a timeout in disguise. */
const LONG_RPC_TIMEOUT_MS = 5_000;

/** Runs `request` and reports how long the answer took. */
async function timed(
  request: () => Promise<ApiResponse>,
): Promise<{ response: ApiResponse; elapsedMs: number }> {
  const start = performance.now();
  const response = await request();
  return { response, elapsedMs: performance.now() - start };
}

/** A port on which nothing listens: bound by a throwaway server, then released. */
async function findClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port was bound');
  return address.port;
}

function expectRetryAfter(response: ApiResponse): void {
  expect(response.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
}

describe('when the consumer dies after declaring the queues', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let firstConsumer: ServiceProcess | undefined;
  let revivedConsumer: ServiceProcess | undefined;
  let producer: Producer | undefined;
  let api: Api;
  let userId: number;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    firstConsumer = await startConsumer({ amqpUrl: vhost.url, database: db.name });
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: db.name,
      rpcTimeoutMs: SHORT_RPC_TIMEOUT_MS,
    });
    api = createApi(producer.baseUrl);
    await firstConsumer.kill();
    userId = await db.createUser();
  });

  afterAll(async () => {
    await releaseAll([producer?.stop(), firstConsumer?.stop(), revivedConsumer?.stop()]);
    await releaseAll([vhost?.delete(), db?.drop()]);
  });

  it('a purchase answers 504 reply_timeout once RPC_TIMEOUT_MS has passed, and nothing is written', async () => {
    const { response, elapsedMs } = await timed(() => api.purchase({ user_id: userId }));

    expectProblem(response, 504, 'reply_timeout');
    // It waited for the deadline; how promptly after it is the benchmark's to say.
    expect(elapsedMs).toBeGreaterThanOrEqual(SHORT_RPC_TIMEOUT_MS - 50);
    expect(await countRows(db.pool)).toEqual({ subscriptions: 0, events: 0 });
  });

  it('a consumer that comes back after the deadline does not apply the timed-out purchase', async () => {
    expectProblem(await api.purchase({ user_id: userId }), 504, 'reply_timeout');

    revivedConsumer = await startConsumer({ amqpUrl: vhost.url, database: db.name });
    // Queued behind the timed-out commands, which expire in the queue or are dropped unapplied
    // on delivery for being past their deadline.
    const fresh = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });

    expect(await listSubscriptionIds(db.pool, userId)).toEqual([fresh.id]);
    expect(await countRows(db.pool)).toEqual({ subscriptions: 1, events: 1 });
  });
});

describe('when the broker is unreachable', () => {
  let producer: Producer | undefined;
  let api: Api;

  beforeAll(async () => {
    const port = await findClosedPort();
    producer = await startProducer({
      amqpUrl: `amqp://guest:guest@127.0.0.1:${port}`,
      rpcTimeoutMs: LONG_RPC_TIMEOUT_MS,
      awaitBroker: false,
    });
    // Proof that it tried and failed, rather than not having tried yet.
    await producer.waitForMessage('broker reconnect scheduled');
    api = createApi(producer.baseUrl);
  });

  afterAll(async () => {
    await releaseAll([producer?.stop()]);
  });

  it('a purchase answers 503 broker_unavailable without waiting for the deadline, with Retry-After', async () => {
    const { response, elapsedMs } = await timed(() => api.purchase({ user_id: 1 }));

    expectProblem(response, 503, 'broker_unavailable');
    expectRetryAfter(response);
    // Before the deadline: the refusal did not wait for a reply that could not come.
    expect(elapsedMs).toBeLessThan(LONG_RPC_TIMEOUT_MS);
  });

  it('a status change answers 503 broker_unavailable without waiting for the deadline, with Retry-After', async () => {
    const { response, elapsedMs } = await timed(() => api.cancel(1));

    expectProblem(response, 503, 'broker_unavailable');
    expectRetryAfter(response);
    // Before the deadline: the refusal did not wait for a reply that could not come.
    expect(elapsedMs).toBeLessThan(LONG_RPC_TIMEOUT_MS);
  });

  it('readyz answers 503 while healthz answers 200', async () => {
    const [ready, health] = await Promise.all([
      api.send('GET', '/readyz'),
      api.send('GET', '/healthz'),
    ]);

    expect(ready.status).toBe(503);
    expect(health.status).toBe(200);
  });
});

describe('when no consumer has declared the queues yet', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let consumer: ServiceProcess | undefined;
  let producer: Producer | undefined;
  let api: Api;
  let userId: number;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: db.name,
      rpcTimeoutMs: LONG_RPC_TIMEOUT_MS,
    });
    api = createApi(producer.baseUrl);
    userId = await db.createUser();
  });

  afterAll(async () => {
    await releaseAll([producer?.stop(), consumer?.stop()]);
    await releaseAll([vhost?.delete(), db?.drop()]);
  });

  it('a purchase is unroutable and answers 503 without waiting for the deadline, with Retry-After', async () => {
    const { response, elapsedMs } = await timed(() => api.purchase({ user_id: userId }));

    expectProblem(response, 503, 'broker_unavailable');
    expectRetryAfter(response);
    // Before the deadline: the refusal did not wait for a reply that could not come.
    expect(elapsedMs).toBeLessThan(LONG_RPC_TIMEOUT_MS);
  });

  it('once a consumer has declared the queues, the same purchase succeeds', async () => {
    consumer = await startConsumer({ amqpUrl: vhost.url, database: db.name });
    const response = await api.purchase({ user_id: userId });

    const { id } = expectSubscription(response, 201, { user_id: userId, status: 'ACTIVE' });
    expect(await listSubscriptionIds(db.pool, userId)).toEqual([id]);
  });
});
