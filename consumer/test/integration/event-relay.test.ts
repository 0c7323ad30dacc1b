import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { CLOUD_EVENTS_CONTENT_TYPE, HEADER_REQUEST_ID } from '@subscriptions/contracts';
import {
  createDatabasePool,
  createEventOutbox,
  createSubscriptionRepository,
  type EventOutbox,
  relayLockName,
} from '@subscriptions/store';
import amqp, { type ChannelModel } from 'amqplib';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { releaseAll } from '../../../test-support/cleanup';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { waitUntil } from '../../../test-support/http/load';
import { testLogger } from '../../../test-support/logger';
import {
  auditEvents,
  type EventSubscriber,
  openEventSubscriber,
  readHistory,
  readRelayPosition,
} from '../../../test-support/outcomes/events';
import { createEventPublisher } from '../../src/events/event-publisher';
import { type EventRelay, type RelaySettings, startEventRelay } from '../../src/events/event-relay';
import { type BatchItem, createBatchExecutor } from '../../src/subscriptions/apply-command';

const WAIT_MS = 10_000;

const purchase = (userId: number, requestId?: string): BatchItem => ({
  command: { name: 'purchase', body: { user_id: userId } },
  identity: { requestId },
});
const change = (name: 'cancel' | 'restart', subscriptionId: number): BatchItem => ({
  command: { name, body: { subscription_id: subscriptionId } },
  identity: {},
});

describe('the event relay', () => {
  let vhost: TestVhost;
  let db: TestDatabase;
  let pool: Pool;
  let connection: ChannelModel;
  let subscriber: EventSubscriber;
  const relays: { relay: EventRelay; pool: Pool }[] = [];

  beforeAll(async () => {
    [vhost, db] = await Promise.all([createTestVhost(), createTestDatabase()]);
    pool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 3 });
    connection = await amqp.connect(vhost.url);
    subscriber = await openEventSubscriber(vhost.url);
  });

  afterEach(async () => {
    await releaseAll(
      relays.splice(0).map(({ relay, pool }) => relay.stop().then(() => pool.end())),
    );
  });

  afterAll(async () => {
    await releaseAll([subscriber?.close(), connection?.close(), pool?.end()]);
    await releaseAll([vhost?.delete(), db?.drop()]);
  });

  /** A relay of its own (own pool, own channel), as each consumer process runs one. */
  async function startRelay(
    wrap: (outbox: EventOutbox) => EventOutbox = (outbox) => outbox,
    settings: Partial<RelaySettings> = {},
  ): Promise<EventRelay> {
    const relayPool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 1 });
    const publisher = createEventPublisher(testLogger);
    await publisher.attach(connection);
    const relay = startEventRelay({
      outbox: wrap(createEventOutbox(relayPool, db.name)),
      publisher,
      logger: testLogger,
      settings: { leadRetryMs: 50, ...settings },
    });
    relays.push({ relay, pool: relayPool });
    return relay;
  }

  async function apply(items: BatchItem[]) {
    const outcome = await createBatchExecutor(createSubscriptionRepository(pool))(items);
    if (outcome.kind !== 'committed') throw new Error(`batch ${outcome.kind}`);
    return outcome.replies;
  }

  it('publishes each applied change once, in commit order, as the CloudEvent of its history row', async () => {
    const relay = await startRelay();
    await waitUntil('the relay to lead', () => relay.isLeading(), WAIT_MS);
    const userId = await db.createUser('Events');
    const [bought] = await apply([purchase(userId, 'req-purchase-1')]);
    if (!bought?.ok) throw new Error('purchase refused');
    const id = bought.subscription.id;
    await apply([change('cancel', id), change('restart', id)]);
    // Refused: already ACTIVE, and no such subscription. No event for either.
    await apply([change('restart', id), change('cancel', 2_000_000_000)]);
    relay.wake();

    const history = await readHistory(db.pool);
    expect(history.map((row) => row.type)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
    ]);
    await subscriber.waitFor(history.length, WAIT_MS);
    expect(auditEvents(history, subscriber.received)).toEqual({ problems: [], duplicates: 0 });

    const [first, second] = subscriber.received;
    expect(first?.event).toEqual({
      specversion: '1.0',
      id: String(history[0]?.id),
      source: '/api/v1/subscriptions',
      type: 'subscription.purchased',
      subject: String(id),
      time: bought.subscription.created_at,
      datacontenttype: 'application/json',
      data: { subscription: bought.subscription, version: 0 },
    });
    expect(first?.properties).toEqual(
      expect.objectContaining({
        contentType: CLOUD_EVENTS_CONTENT_TYPE,
        deliveryMode: 2,
        messageId: String(history[0]?.id),
        headers: expect.objectContaining({ [HEADER_REQUEST_ID]: 'req-purchase-1' }),
      }),
    );
    expect(second?.event.data).toEqual({
      subscription: expect.objectContaining({
        id,
        status: 'CANCELED',
        updated_at: second?.event.time,
      }),
      version: 1,
    });
    // Its position is recorded once the broker confirmed.
    await waitUntil(
      'the relay to record its position',
      async () => (await readRelayPosition(db.pool)) === history.at(-1)?.id,
      WAIT_MS,
    );
  });

  it('runs once per database: a second relay waits, and takes over from the position when the first stops', async () => {
    const first = await startRelay();
    await waitUntil('the first relay to lead', () => first.isLeading(), WAIT_MS);
    const second = await startRelay();
    const userId = await db.createUser('Takeover');
    const before = subscriber.received.length;
    await apply([purchase(userId)]);
    first.wake();
    await subscriber.waitFor(before + 1, WAIT_MS);
    expect(second.isLeading()).toBe(false);

    await relays.shift()?.relay.stop();
    await waitUntil('the second relay to lead', () => second.isLeading(), WAIT_MS);
    await apply([purchase(userId), purchase(userId)]);
    await subscriber.waitFor(before + 3, WAIT_MS);
    expect(auditEvents(await readHistory(db.pool), subscriber.received)).toEqual({
      problems: [],
      duplicates: 0,
    });
  });

  it('publishes what committed while no relay ran once one starts, and again, with the same ids, what it published but could not record', async () => {
    const userId = await db.createUser('Late Relay');
    const before = subscriber.received.length;
    await apply([purchase(userId), purchase(userId)]);
    const committed = (await readHistory(db.pool)).slice(-2);
    let failures = 0;
    // The first record of its position fails, as if the relay died between confirm and record.
    const relay = await startRelay((outbox) => ({
      ...outbox,
      advance: async (position, now) => {
        if (failures === 0) {
          failures += 1;
          outbox.release();
          throw new Error('connection lost');
        }
        return outbox.advance(position, now);
      },
    }));
    await subscriber.waitFor(before + 4, WAIT_MS);
    await waitUntil(
      'the relay to record its position',
      async () => (await readRelayPosition(db.pool)) === committed.at(-1)?.id,
      WAIT_MS,
    );
    expect(relay.isLeading()).toBe(true);
    const ids = subscriber.received.slice(before).map(({ event }) => Number(event.id));
    expect(ids).toEqual([...committed, ...committed].map((row) => row.id));
    expect(auditEvents(await readHistory(db.pool), subscriber.received).problems).toEqual([]);
  });

  it('goes on from a position an operator moved on, skipping the events before it', async () => {
    const relay = await startRelay((outbox) => outbox, {
      pollMs: 60_000,
      batchSize: 2,
      recordEveryMs: 0,
    });
    await waitUntil('the relay to lead', () => relay.isLeading(), WAIT_MS);
    const userId = await db.createUser('Skipped');
    const before = subscriber.received.length;
    await apply([purchase(userId), purchase(userId), purchase(userId), purchase(userId)]);
    const newest = (await readHistory(db.pool)).at(-1)?.id;
    await db.pool.query('UPDATE event_relay SET published_through = ? WHERE id = 1', [newest]);
    relay.wake();
    // The batch it had read goes out; at its next record it sees the new position and skips on.
    await waitUntil(
      'the relay to record its position',
      async () => (await readRelayPosition(db.pool)) === newest,
      WAIT_MS,
    );
    await subscriber.waitFor(before + 2, WAIT_MS);
    relay.wake();
    await apply([purchase(userId)]);
    relay.wake();
    await subscriber.waitFor(before + 3, WAIT_MS);
    const ids = subscriber.received.slice(before).map(({ event }) => Number(event.id));
    const history = (await readHistory(db.pool)).slice(-5).map((row) => row.id);
    expect(ids).toEqual([history[0], history[1], history[4]]);
  });

  it('lets an event become visible only after every event with a smaller id', async () => {
    const userId = await db.createUser('Commit Order');
    const [bought] = await apply([purchase(userId)]);
    if (!bought?.ok) throw new Error('purchase refused');
    // A transaction that has taken its event id and not committed yet.
    const early = await pool.getConnection();
    try {
      await early.query('START TRANSACTION');
      await early.query('SELECT id FROM event_commit_lock WHERE id = 1 FOR UPDATE');
      const [inserted] = await early.query<ResultSetHeader>(
        "INSERT INTO event_history (subscription_id, type, version, created_at) VALUES (?, 'SUBSCRIPTION_CANCELED', 1, NOW(3))",
        [bought.subscription.id],
      );
      // A later transaction commits its change but waits to append its event...
      const later = apply([purchase(userId)]);
      await waitUntil('the later transaction to wait for the lock', () => lockWaits(), WAIT_MS);
      // ...so no event after the early one's id is visible while the early one is open.
      expect(await eventIdsAfter(inserted.insertId - 1)).toEqual([]);
      await early.query('COMMIT');
      const [reply] = await later;
      expect(reply?.ok).toBe(true);
      const ids = await eventIdsAfter(inserted.insertId - 1);
      expect(ids).toHaveLength(2);
      expect(ids[0]).toBe(inserted.insertId);
    } finally {
      early.release();
    }
  });

  it('names its lock after the database, within the 64 characters MySQL allows', () => {
    expect(relayLockName('subscriptions')).toBe('event_relay:subscriptions');
    expect(relayLockName('x'.repeat(64))).toHaveLength(64);
    expect(relayLockName('x'.repeat(64))).not.toBe(relayLockName(`${'x'.repeat(63)}y`));
  });

  async function eventIdsAfter(id: number): Promise<number[]> {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT id FROM event_history WHERE id > ? ORDER BY id',
      [id],
    );
    return rows.map((row) => Number(row['id']));
  }

  /** Whether another session of this database is running the event commit lock's statement. */
  async function lockWaits(): Promise<boolean> {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS waiting FROM information_schema.processlist
       WHERE db = ? AND command = 'Query' AND info LIKE 'SELECT id FROM event_commit_lock%'`,
      [db.name],
    );
    return Number(rows[0]?.['waiting']) > 0;
  }
});
