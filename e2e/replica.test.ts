import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { migrate } from '@subscriptions/store';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { releaseAll } from '../test-support/cleanup';
import {
  createApi,
  expectProblem,
  expectSubscription,
  SUBSCRIPTIONS_PATH,
  type Api,
  type ApiResponse,
  type SubscriptionBody,
} from '../test-support/http/api';
import {
  printFigures,
  runConcurrently,
  sendPurchase,
  tally,
  waitUntil,
} from '../test-support/http/load';
import { startReplicatedPair, type ReplicatedPair } from '../test-support/mariadb-replica';
import { findSubscriptionRow, listEventTypes } from '../test-support/outcomes/rows';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

/** The servers are the test's own, so the database can keep its usual name. */
const DATABASE = 'subscriptions';
const LOAD_PURCHASES = 200;
const LOAD_CONCURRENCY = 16;
/** How long a purchase may take to show on the replica: far above any lag seen, still finite. */
const VISIBLE_WITHIN_MS = 10_000;
/** How long a read may take to fail while the replica is away (the read pool connects in 2 s). */
const UNAVAILABLE_WITHIN_MS = 2_000;

function percentile(sorted: readonly number[], fraction: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, index)] ?? Number.NaN) * 10) / 10;
}

/**
 * The producer reads from a MariaDB replica while the consumer writes to its primary: the
 * deployment of a read side that has outgrown one server. Both servers are private to this file.
 */
describe('reads from a replica, writes through the primary', () => {
  let pair: ReplicatedPair;
  let vhost: TestVhost;
  let primaryPool: mysql.Pool;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let userId: number;

  beforeAll(async () => {
    [pair, vhost] = await Promise.all([startReplicatedPair(), createTestVhost()]);
    await migrate({ ...pair.primary.server, database: DATABASE });
    primaryPool = mysql.createPool({
      ...pair.primary.server,
      database: DATABASE,
      timezone: 'Z',
      connectionLimit: 2,
    });
    const [user] = await primaryPool.execute<mysql.ResultSetHeader>(
      'INSERT INTO `user` (full_name) VALUES (?)',
      ['Replica Reader'],
    );
    userId = user.insertId;
    await pair.waitForReplica();
    consumer = await startConsumer({
      amqpUrl: vhost.url,
      database: DATABASE,
      mysql: pair.primary.server,
    });
    // The producer's MYSQL_* name the replica: it only reads from MySQL.
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: DATABASE,
      mysql: pair.replica.server,
      env: { RATE_LIMIT_PER_MINUTE: '0' },
    });
    api = createApi(producer.baseUrl);
  }, 60_000);

  afterAll(async () => {
    await releaseAll([producer?.stop(), consumer?.stop()]);
    await releaseAll([primaryPool?.end(), vhost?.delete(), pair?.remove()]);
  });

  const getSubscription = (id: number) => api.send('GET', `${SUBSCRIPTIONS_PATH}/${id}`);
  const getHistory = (id: number) => api.send('GET', `${SUBSCRIPTIONS_PATH}/${id}/history`);

  /** Polls the replica-backed GET until it answers 200; returns the milliseconds that took. */
  async function timeUntilVisible(id: number, since: number): Promise<number> {
    let found: ApiResponse | undefined;
    await waitUntil(
      `subscription ${id} on the replica`,
      async () => {
        found = await getSubscription(id);
        return found.status === 200;
      },
      VISIBLE_WITHIN_MS,
      2,
    );
    return performance.now() - since;
  }

  it('answers each write with the state it made; the history on the replica catches up', async () => {
    const purchased = await api.purchase({ user_id: userId });
    const created = expectSubscription(purchased, 201, { user_id: userId, status: 'ACTIVE' });
    expect(purchased.headers.get('location')).toBe(`${SUBSCRIPTIONS_PATH}/${created.id}`);

    // The consumer decides on the primary, so each change follows the one before at once, even
    // when the replica has not caught up yet.
    const steps = [
      { send: () => api.cancel(created.id), status: 'CANCELED' },
      { send: () => api.restart(created.id), status: 'ACTIVE' },
      { send: () => api.cancel(created.id), status: 'CANCELED' },
    ] as const;
    let last: SubscriptionBody = created;
    for (const step of steps) {
      last = expectSubscription(await step.send(), 200, {
        id: created.id,
        user_id: userId,
        status: step.status,
      });
    }
    const refused = expectProblem(await api.cancel(created.id), 409, 'invalid_transition');
    expect(refused.current_status).toBe('CANCELED');

    const expectedTypes = [
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
      'SUBSCRIPTION_CANCELED',
    ];
    expect(await listEventTypes(primaryPool, created.id)).toEqual(expectedTypes);
    await waitUntil(
      'the full history on the replica',
      async () => {
        const history = await getHistory(created.id);
        const events = (history.body as { data?: unknown[] }).data ?? [];
        return history.status === 200 && events.length === expectedTypes.length;
      },
      VISIBLE_WITHIN_MS,
    );
    const history = await getHistory(created.id);
    expect((history.body as { data: { type: string }[] }).data.map((event) => event.type)).toEqual(
      expectedTypes,
    );
    const read = await getSubscription(created.id);
    expect({ status: read.status, body: read.body }).toEqual({ status: 200, body: last });
  });

  it(`shows every purchase on the replica within ${VISIBLE_WITHIN_MS / 1_000} s under load (${LOAD_PURCHASES} purchases, ${LOAD_CONCURRENCY} at once)`, async () => {
    const outcomes = await runConcurrently(LOAD_PURCHASES, LOAD_CONCURRENCY, async () => {
      const answer = await sendPurchase(api, userId);
      const answeredAt = performance.now();
      if (answer.status !== 201) return { status: answer.status, lagMs: Number.NaN };
      const { id } = answer.body as SubscriptionBody;
      return { status: answer.status, lagMs: await timeUntilVisible(id, answeredAt) };
    });
    expect(outcomes.filter((outcome) => outcome.status !== 201)).toEqual([]);

    const lags = outcomes.map((outcome) => outcome.lagMs).sort((a, b) => a - b);
    printFigures('replica lag', {
      purchases: LOAD_PURCHASES,
      concurrency: LOAD_CONCURRENCY,
      p50_ms: percentile(lags, 0.5),
      p99_ms: percentile(lags, 0.99),
      max_ms: percentile(lags, 1),
    });
    for (const lag of lags) expect(lag).toBeLessThan(VISIBLE_WITHIN_MS);
  });

  describe('when the replica goes away', () => {
    let known: number;
    const writtenMeanwhile: number[] = [];

    beforeAll(async () => {
      const answer = await api.purchase({ user_id: userId });
      known = expectSubscription(answer, 201, { user_id: userId, status: 'ACTIVE' }).id;
      await timeUntilVisible(known, performance.now());
      await pair.replica.kill();
    });

    it(`answers reads 503 database_unavailable within ${UNAVAILABLE_WITHIN_MS / 1_000} s while purchases go on answering 201`, async () => {
      const reads = [
        () => getSubscription(known),
        () => getHistory(known),
        () => api.send('GET', `${SUBSCRIPTIONS_PATH}?user_id=${userId}`),
      ];
      const readTimes: number[] = [];
      for (let round = 0; round < 3; round += 1) {
        for (const read of reads) {
          const sentAt = performance.now();
          const response = await read();
          readTimes.push(performance.now() - sentAt);
          expectProblem(response, 503, 'database_unavailable');
        }
      }

      const purchases = await runConcurrently(20, 4, () => sendPurchase(api, userId));
      expect(tally(purchases).statuses).toEqual({ '201': 20 });
      for (const purchase of purchases) {
        const { id } = purchase.body as SubscriptionBody;
        writtenMeanwhile.push(id);
        // Applied on the primary: the answer was no guess.
        expect(await findSubscriptionRow(primaryPool, id)).toEqual({
          user_id: userId,
          status: 'ACTIVE',
        });
      }

      const slowest = Math.max(...readTimes);
      const writeTimes = purchases.map((purchase) => purchase.answeredAt - purchase.sentAt);
      printFigures('replica down', {
        reads: readTimes.length,
        slowest_503_ms: Math.round(slowest),
        writes: purchases.length,
        slowest_201_ms: Math.round(Math.max(...writeTimes)),
      });
      expect(slowest).toBeLessThan(UNAVAILABLE_WITHIN_MS);
    });

    it('serves reads again once the replica is back, with what was written meanwhile', async () => {
      const restartedAt = performance.now();
      await pair.replica.start();
      // Replication resumes where it stopped; the producer's pool connects again on its own.
      for (const id of writtenMeanwhile) await timeUntilVisible(id, restartedAt);
      printFigures('replica back', {
        all_visible_after_restart_ms: Math.round(performance.now() - restartedAt),
      });

      for (const id of writtenMeanwhile) {
        const read = await getSubscription(id);
        expect({ id, status: read.status }).toEqual({ id, status: 200 });
      }
      const ready = await api.send('GET', '/readyz');
      expect(ready.status).toBe(200);
    });
  });
});
