import type { EventType, Reply, Subscription, SubscriptionStatus } from '@subscriptions/contracts';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/** Ids of the seeded `status` rows (mysql-init/001-schema.sql). */
const STATUS_IDS: Record<SubscriptionStatus, number> = { ACTIVE: 1, CANCELED: 2 };

/** Milliseconds any one statement may run before the command is treated as failed. */
const STATEMENT_TIMEOUT_MS = 8_000;

interface SubscriptionRow extends RowDataPacket {
  id: number;
  user_id: number;
  status: SubscriptionStatus;
  created_at: Date;
  updated_at: Date | null;
}

/** The statements commands run inside one transaction; the bulk ones serve a whole batch. */
export interface SubscriptionTransaction {
  /** Which of these users exist. */
  findUsers(userIds: readonly number[]): Promise<Set<number>>;
  /** Creates one ACTIVE subscription per user id, in one statement; returns their ids in order. */
  insertSubscriptions(userIds: readonly number[], now: Date): Promise<number[]>;
  /**
   * Moves `from` -> `to` in one conditional statement; false when the row was not in `from`
   * (or, given `ownerId`, belongs to another user).
   */
  changeStatus(
    id: number,
    from: SubscriptionStatus,
    to: SubscriptionStatus,
    now: Date,
    ownerId?: number,
  ): Promise<boolean>;
  /** `null` when it does not exist or, given `ownerId`, belongs to another user. */
  findSubscription(id: number, ownerId?: number): Promise<Subscription | null>;
  appendEvents(
    events: readonly { subscriptionId: number; type: EventType }[],
    now: Date,
  ): Promise<void>;
  /** The stored outcomes of commands seen before, by command key. */
  findProcessedMany(commandKeys: readonly string[]): Promise<Map<string, ProcessedCommand>>;
  /** Records outcomes; a twin committed meanwhile makes this fail with a duplicate key (1062). */
  recordProcessedMany(records: readonly ProcessedRecord[], now: Date): Promise<void>;
}

export interface ProcessedRecord extends ProcessedCommand {
  idempotencyKey?: string | undefined;
  messageId?: string | undefined;
}

export interface ProcessedCommand {
  commandKey: string;
  requestHash: string;
  reply: Reply;
}

export interface SubscriptionRepository {
  /** Runs `work` in one transaction: it commits when `work` resolves, rolls back when it throws. */
  inTransaction<T>(work: (tx: SubscriptionTransaction) => Promise<T>): Promise<T>;
  /** Deletes up to `limit` processed-command records older than `before`; returns how many. */
  purgeProcessedBefore(before: Date, limit: number): Promise<number>;
}

export function createSubscriptionRepository(pool: Pool): SubscriptionRepository {
  // Read once: bulk inserts depend on this server setting (other than 1 on multi-primary setups).
  let step: Promise<number> | undefined;
  const autoIncrementStep = () => {
    step ??= pool
      .query<RowDataPacket[]>('SELECT @@auto_increment_increment AS step')
      .then(([rows]) => Number(rows[0]?.['step'] ?? 1))
      .catch((error: unknown) => {
        step = undefined;
        throw error;
      });
    return step;
  };
  return {
    async inTransaction(work) {
      const connection = await pool.getConnection();
      let healthy = true;
      try {
        await connection.beginTransaction();
        const result = await work(bindTransaction(connection, autoIncrementStep));
        await connection.commit();
        return result;
      } catch (error) {
        healthy = await rollbackQuietly(connection);
        throw error;
      } finally {
        // A connection whose rollback failed may be half-open: drop it rather than reuse it.
        if (healthy) connection.release();
        else connection.destroy();
      }
    },

    async purgeProcessedBefore(before, limit) {
      const [result] = await pool.query<ResultSetHeader>({
        sql: 'DELETE FROM processed_command WHERE created_at < ? LIMIT ?',
        values: [before, limit],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return result.affectedRows;
    },
  };
}

interface ProcessedRow extends RowDataPacket {
  command_key: string;
  request_hash: string;
  reply: string;
}

async function rollbackQuietly(connection: PoolConnection): Promise<boolean> {
  try {
    await connection.rollback();
    return true;
  } catch {
    return false;
  }
}

function bindTransaction(
  connection: PoolConnection,
  autoIncrementStep: () => Promise<number>,
): SubscriptionTransaction {
  return {
    async findUsers(userIds) {
      if (userIds.length === 0) return new Set();
      const [rows] = await connection.query<RowDataPacket[]>({
        sql: 'SELECT id FROM `user` WHERE id IN (?)',
        values: [userIds],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return new Set(rows.map((row) => Number(row['id'])));
    },

    async insertSubscriptions(userIds, now) {
      if (userIds.length === 0) return [];
      const [result] = await connection.query<ResultSetHeader>({
        sql: 'INSERT INTO subscription (user_id, status_id, created_at) VALUES ?',
        values: [userIds.map((userId) => [userId, STATUS_IDS.ACTIVE, now])],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      if (result.affectedRows !== userIds.length) {
        throw new Error(`inserted ${result.affectedRows} of ${userIds.length} subscriptions`);
      }
      // A multi-row INSERT ... VALUES is a "simple insert": InnoDB gives it one run of ids,
      // spaced by auto_increment_increment, in every auto-increment lock mode.
      const step = await autoIncrementStep();
      return userIds.map((_, index) => result.insertId + index * step);
    },

    async changeStatus(id, from, to, now, ownerId) {
      const [result] = await connection.execute<ResultSetHeader>({
        sql: `UPDATE subscription SET status_id = ?, updated_at = ?, version = version + 1
              WHERE id = ? AND status_id = ?${ownerId === undefined ? '' : ' AND user_id = ?'}`,
        values: [
          STATUS_IDS[to],
          now,
          id,
          STATUS_IDS[from],
          ...(ownerId === undefined ? [] : [ownerId]),
        ],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return result.affectedRows === 1;
    },

    async findSubscription(id, ownerId) {
      const [rows] = await connection.execute<SubscriptionRow[]>({
        sql: `SELECT s.id, s.user_id, st.status_name AS status, s.created_at, s.updated_at
              FROM subscription s JOIN status st ON st.id = s.status_id
              WHERE s.id = ?${ownerId === undefined ? '' : ' AND s.user_id = ?'}`,
        values: ownerId === undefined ? [id] : [id, ownerId],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      const row = rows[0];
      return row ? toSubscription(row) : null;
    },

    async appendEvents(events, now) {
      if (events.length === 0) return;
      await connection.query({
        sql: 'INSERT INTO event_history (subscription_id, type, created_at) VALUES ?',
        values: [events.map((event) => [event.subscriptionId, event.type, now])],
        timeout: STATEMENT_TIMEOUT_MS,
      });
    },

    async findProcessedMany(commandKeys) {
      const found = new Map<string, ProcessedCommand>();
      if (commandKeys.length === 0) return found;
      const [rows] = await connection.query<ProcessedRow[]>({
        sql: 'SELECT command_key, request_hash, reply FROM processed_command WHERE command_key IN (?)',
        values: [commandKeys],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      for (const row of rows) {
        found.set(row.command_key, {
          commandKey: row.command_key,
          requestHash: row.request_hash,
          reply: JSON.parse(row.reply) as Reply,
        });
      }
      return found;
    },

    async recordProcessedMany(records, now) {
      if (records.length === 0) return;
      await connection.query({
        sql: `INSERT INTO processed_command
                (command_key, request_hash, idempotency_key, message_id, reply, created_at)
              VALUES ?`,
        values: [
          records.map((record) => [
            record.commandKey,
            record.requestHash,
            record.idempotencyKey ?? null,
            record.messageId ?? null,
            JSON.stringify(record.reply),
            now,
          ]),
        ],
        timeout: STATEMENT_TIMEOUT_MS,
      });
    },
  };
}

function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: Number(row.id),
    user_id: Number(row.user_id),
    status: row.status,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at ? row.updated_at.toISOString() : null,
  };
}
