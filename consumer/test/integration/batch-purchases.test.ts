import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createDatabasePool,
  createSubscriptionRepository,
  type RepositoryOptions,
} from '@subscriptions/store';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { type BatchItem, createBatchExecutor } from '../../src/subscriptions/apply-command';

/** A command id as a producer mints them: the acceptance time (base 36) is its second field. */
const commandId = (nonce: string) => `purchase.${Date.now().toString(36)}..MQ.${nonce}.mac`;

/** No user has this id: the test database's users count up from 1. */
const MISSING_USER = 2_000_000_000;

/** How many purchase inserts a batch of `purchases` sends, by how the repository is set. */
const INSERTS = {
  'asked of the server (MariaDB: one insert answering its rows)': {
    options: {},
    perBatch: (purchases: number, mariadb: boolean) => (mariadb ? 1 : purchases),
  },
  "one insert a row (MySQL's way)": {
    options: { insertReturning: false },
    perBatch: (purchases: number) => purchases,
  },
} satisfies Record<
  string,
  { options: RepositoryOptions; perBatch: (purchases: number, mariadb: boolean) => number }
>;

describe.each(Object.entries(INSERTS))("a batch's purchases, %s", (_, { options, perBatch }) => {
  let db: TestDatabase;
  let pool: Pool;
  /** The purchase inserts the repository's connections sent, as the server got them. */
  const inserts: string[] = [];
  let alice: number;
  let bob: number;
  let mariadb: boolean;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 1 });
    const watched = new WeakSet<object>();
    pool.on('acquire', (connection) => {
      if (watched.has(connection)) return;
      watched.add(connection);
      const query = connection.query.bind(connection) as (...args: unknown[]) => unknown;
      Object.assign(connection, {
        query(...args: unknown[]) {
          const first = args[0] as string | { sql: string };
          const sql = typeof first === 'string' ? first : first.sql;
          inserts.push(...(sql.match(/INSERT IGNORE INTO subscription/g) ?? []));
          return query(...args);
        },
      });
    });
    const [version] = await db.pool.query<RowDataPacket[]>('SELECT VERSION() AS v');
    mariadb = String(version[0]?.['v']).includes('MariaDB');
    alice = await db.createUser('Alice');
    bob = await db.createUser('Bob');
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const purchase = (user: number, id = commandId(`p${user}`)): BatchItem => ({
    command: { name: 'purchase', body: { user_id: user } },
    identity: { messageId: id },
  });

  const rowsOf = async (user: number) => {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT id FROM subscription WHERE user_id = ? ORDER BY id',
      [user],
    );
    return rows.map((row) => Number(row['id']));
  };

  it('gives each purchase a subscription of its own user, refuses a missing user, and withdraws a repeat', async () => {
    const execute = createBatchExecutor(createSubscriptionRepository(pool, options));
    const recorded = commandId('recorded');
    const first = await execute([purchase(alice, recorded)]);
    if (first.kind !== 'committed' || !first.replies[0]?.ok) throw new Error('first batch');
    const recordedId = first.replies[0].subscription.id;
    inserts.length = 0;

    const batch: BatchItem[] = [
      purchase(alice, recorded),
      purchase(alice, commandId('a1')),
      purchase(MISSING_USER),
      purchase(bob),
      purchase(alice, commandId('a2')),
      // A second change of one subscription in the batch: its record must find version 1.
      {
        command: { name: 'cancel', body: { subscription_id: recordedId } },
        identity: { messageId: `cancel.${Date.now().toString(36)}..MQ.c.mac` },
      },
    ];
    const outcome = await execute(batch);
    if (outcome.kind !== 'committed') throw new Error(`batch ${outcome.kind}`);
    const [repeat, a1, missing, b, a2, cancel] = outcome.replies;

    expect(repeat).toEqual({ ...first.replies[0], replayed: true });
    expect(missing).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'user_not_found' }),
    });
    const made = [a1, b, a2].map((reply) => {
      if (!reply?.ok) throw new Error(`purchase refused: ${JSON.stringify(reply)}`);
      return reply.subscription;
    });
    expect(made.map(({ user_id }) => user_id)).toEqual([alice, bob, alice]);
    expect(made.every(({ status }) => status === 'ACTIVE')).toBe(true);
    expect(cancel).toEqual({
      ok: true,
      subscription: expect.objectContaining({ id: recordedId, status: 'CANCELED' }),
    });
    // The repeat's row, inserted with the others before the look-ups answered, is gone.
    expect(await rowsOf(alice)).toEqual(
      [recordedId, made[0]?.id ?? 0, made[2]?.id ?? 0].sort((x, y) => x - y),
    );
    expect(await rowsOf(bob)).toEqual([made[1]?.id]);
    expect(await rowsOf(MISSING_USER)).toEqual([]);
    expect(inserts).toHaveLength(perBatch(5, mariadb));

    // Each command's record points at its own change: delivered again, each replays it.
    const again = await execute(batch);
    if (again.kind !== 'committed') throw new Error(`batch again ${again.kind}`);
    expect(again.replies).toEqual(
      outcome.replies.map((reply, index) => (index === 0 ? reply : { ...reply, replayed: true })),
    );
  });
});
