import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import { createApi, type Api } from '../test-support/http/api';
import {
  createUsers,
  findLedgerInconsistencies,
  readLedger,
} from '../test-support/outcomes/ledger';
import {
  isSuccess,
  printFigures,
  runConcurrently,
  sendPurchase,
  sendStatusChange,
  tally,
  type StatusChange,
} from '../test-support/http/load';
import { releaseAll } from '../test-support/cleanup';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

const CONSUMERS = 3;
const PRODUCERS = 2;
const SUBSCRIPTIONS = 12;
const CHANGES = 600;

/** Three consumers and two producers on one broker and one database, all at once. */
describe('scale-out: several consumers and producers stay correct', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  const consumers: ServiceProcess[] = [];
  const producers: Producer[] = [];
  let apis: Api[];

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    for (let i = 0; i < CONSUMERS; i += 1) {
      // Small batches and prefetch spread the work over all three consumers.
      consumers.push(
        await startConsumer({
          amqpUrl: vhost.url,
          database: db.name,
          env: { CONSUMER_CONCURRENCY: '8', BATCH_SIZE: '8' },
        }),
      );
    }
    for (let i = 0; i < PRODUCERS; i += 1) {
      producers.push(
        await startProducer({
          amqpUrl: vhost.url,
          database: db.name,
          env: { RATE_LIMIT_PER_MINUTE: '0' },
        }),
      );
    }
    apis = producers.map((producer) => createApi(producer.baseUrl));
  });

  afterAll(async () => {
    await releaseAll([...producers, ...consumers].map((service) => service.stop()));
    await releaseAll([db?.drop(), vhost?.delete()]);
  });

  it('purchases through both producers make exactly one subscription each', async () => {
    const users = await createUsers(db.pool, 20, 'scale');
    const answers = await runConcurrently(200, 32, (i) =>
      sendPurchase(apis[i % PRODUCERS] as Api, users[i % users.length] as number),
    );
    expect(tally(answers).statuses).toEqual({ '201': 200 });
    const ids = new Set(answers.map((answer) => (answer.body as { id: number }).id));
    expect(ids.size).toBe(200);
    const [[row]] = await db.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription WHERE user_id IN (?)',
      [users],
    );
    expect(Number(row?.['n'])).toBe(200);
  });

  it('racing cancels and restarts on the same subscriptions, over three consumers, leave every history consistent', async () => {
    const [user] = await createUsers(db.pool, 1, 'race');
    const created = await runConcurrently(SUBSCRIPTIONS, SUBSCRIPTIONS, () =>
      sendPurchase(apis[0] as Api, user as number),
    );
    const ids = created.map((answer) => (answer.body as { id: number }).id);
    const applied = new Map<number, number>(ids.map((id) => [id, 0]));

    const answers = await runConcurrently(CHANGES, 48, async (i) => {
      const id = ids[i % ids.length] as number;
      // Each subscription is asked cancel, restart, cancel, ... in order; concurrency reorders them.
      const change: StatusChange = Math.floor(i / ids.length) % 2 === 0 ? 'cancel' : 'restart';
      const answer = await sendStatusChange(apis[i % PRODUCERS] as Api, id, change);
      if (isSuccess(answer)) applied.set(id, (applied.get(id) ?? 0) + 1);
      return answer;
    });
    const { statuses, codes } = tally(answers);
    // Every change is either applied (200) or refused by the state machine (409), nothing else.
    expect(Object.keys(statuses).filter((status) => status !== '200' && status !== '409')).toEqual(
      [],
    );
    expect(Object.keys(codes).filter((code) => code !== 'invalid_transition')).toEqual([]);

    const ledger = await readLedger(db.pool);
    expect(findLedgerInconsistencies(ledger)).toEqual([]);
    for (const id of ids) {
      const entry = ledger.get(id);
      // Each 200 answer is exactly one applied change and one event, no more, no less.
      expect(entry?.version).toBe(applied.get(id));
      expect(entry?.events).toHaveLength(1 + (applied.get(id) ?? 0));
    }

    const served = consumers.map(
      (consumer) => consumer.output().split('"command processed"').length - 1,
    );
    printFigures('scale-out race', {
      consumers: CONSUMERS,
      producers: PRODUCERS,
      subscriptions: SUBSCRIPTIONS,
      changes: CHANGES,
      statuses,
      applied: [...applied.values()].reduce((a, b) => a + b, 0),
      commands_per_consumer: served,
    });
    // The work really was spread: every consumer applied some of it.
    for (const count of served) expect(count).toBeGreaterThan(0);
  });
});
