import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { createDatabasePool } from '../../src/pools';
import { openTransaction, runTransaction } from '../../src/transaction';

const TIMEOUT_MS = 5_000;

describe('a transaction sent a round trip at a time', () => {
  let db: TestDatabase;
  let pool: Pool;
  let userId: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 2 });
    userId = await db.createUser('Round Trip');
  });

  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const subscriptionsOf = async (user: number) => {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT id FROM subscription WHERE user_id = ?',
      [user],
    );
    return rows.length;
  };

  it('answers each statement in order and commits what it deferred', async () => {
    const connection = await pool.getConnection();
    const query = jest.spyOn(connection, 'query');
    try {
      const transaction = openTransaction(connection, TIMEOUT_MS);
      const [users, inserted] = await transaction.run([
        { sql: 'SELECT id FROM `user` WHERE id = ?', values: [userId] },
        {
          sql: 'INSERT INTO subscription (user_id, status_id, created_at) VALUES (?, 1, ?)',
          values: [userId, new Date()],
        },
      ]);
      expect(users).toEqual([{ id: userId }]);
      const id = (inserted as ResultSetHeader).insertId;
      transaction.defer({
        sql: "INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, 'SUBSCRIPTION_PURCHASED', ?)",
        values: [id, new Date()],
      });
      // Not sent yet: another session cannot see the subscription, nor its event.
      expect(await subscriptionsOf(userId)).toBe(0);
      await transaction.commit();
      const [events] = await db.pool.query<RowDataPacket[]>(
        'SELECT type FROM event_history WHERE subscription_id = ?',
        [id],
      );
      expect(events).toEqual([{ type: 'SUBSCRIPTION_PURCHASED' }]);
      expect(await subscriptionsOf(userId)).toBe(1);
      // START TRANSACTION, SELECT and INSERT in one; the deferred INSERT and COMMIT in another.
      expect(query).toHaveBeenCalledTimes(2);
    } finally {
      query.mockRestore();
      connection.release();
    }
  });

  it('never commits behind a deferred write that failed, and rolls everything back', async () => {
    const before = await subscriptionsOf(userId);
    const connection = await pool.getConnection();
    try {
      const transaction = openTransaction(connection, TIMEOUT_MS);
      await transaction.run([
        {
          sql: 'INSERT INTO subscription (user_id, status_id, created_at) VALUES (?, 1, ?)',
          values: [userId, new Date()],
        },
      ]);
      // Violates the foreign key: the server stops the round trip there, before the COMMIT.
      transaction.defer({
        sql: "INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, 'SUBSCRIPTION_PURCHASED', ?)",
        values: [Number.MAX_SAFE_INTEGER, new Date()],
      });
      await expect(transaction.commit()).rejects.toMatchObject({ errno: 1452 });
      expect(await transaction.rollback()).toBe(true);
    } finally {
      connection.release();
    }
    expect(await subscriptionsOf(userId)).toBe(before);
  });

  it('escapes every value: input that looks like SQL stays data', async () => {
    const connection = await pool.getConnection();
    try {
      const transaction = openTransaction(connection, TIMEOUT_MS);
      const hostile = "x'); DROP TABLE subscription; --";
      const [rows] = await transaction.run([{ sql: 'SELECT ? AS text', values: [hostile] }]);
      await transaction.commit();
      expect(rows).toEqual([{ text: hostile }]);
    } finally {
      connection.release();
    }
    expect(await subscriptionsOf(userId)).toBeGreaterThanOrEqual(1);
  });

  describe('runTransaction says how the transaction ended, as data', () => {
    const insertSubscription = (user: number) => ({
      sql: 'INSERT INTO subscription (user_id, status_id, created_at) VALUES (?, 1, ?)',
      values: [user, new Date()],
    });

    it('committed, with what the work returned', async () => {
      const before = await subscriptionsOf(userId);
      const outcome = await runTransaction(pool, TIMEOUT_MS, async (transaction) => {
        const [result] = await transaction.run([insertSubscription(userId)]);
        return (result as ResultSetHeader).affectedRows;
      });
      expect(outcome).toEqual({ kind: 'committed', value: 1 });
      expect(await subscriptionsOf(userId)).toBe(before + 1);
    });

    it('duplicate when a unique key refuses a row, and nothing of it stays', async () => {
      const before = await subscriptionsOf(userId);
      const record = {
        sql: `INSERT INTO command_record (accepted_at, id_hash, completed_at)
              VALUES (?, 'duplica!', ?)`,
        values: [Date.now(), new Date()],
      };
      const outcome = await runTransaction(pool, TIMEOUT_MS, async (transaction) => {
        await transaction.run([insertSubscription(userId), record]);
        await transaction.run([record]);
      });
      expect(outcome).toMatchObject({ kind: 'duplicate', error: { errno: 1062 } });
      expect(await subscriptionsOf(userId)).toBe(before);
    });

    it('permanent when the work is wrong, and it is rolled back', async () => {
      const before = await subscriptionsOf(userId);
      const outcome = await runTransaction(pool, TIMEOUT_MS, async (transaction) => {
        await transaction.run([insertSubscription(userId)]);
        await transaction.run([insertSubscription(Number.MAX_SAFE_INTEGER)]);
      });
      expect(outcome).toMatchObject({ kind: 'permanent', error: { errno: 1452 } });
      expect(await subscriptionsOf(userId)).toBe(before);
    });

    it('transient when the database cannot be reached', async () => {
      const away = createDatabasePool({
        ...mysqlServer,
        port: 1,
        database: db.name,
        connectionLimit: 1,
      });
      try {
        const outcome = await runTransaction(away, TIMEOUT_MS, async () => 'never');
        expect(outcome).toMatchObject({ kind: 'transient', error: { code: 'ECONNREFUSED' } });
      } finally {
        await away.end();
      }
    });
  });
});
