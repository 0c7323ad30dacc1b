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

/** The statements a command runs inside one transaction. */
export interface SubscriptionTransaction {
  /** Creates an ACTIVE subscription; `null` when the user does not exist. */
  insertSubscription(userId: number, now: Date): Promise<number | null>;
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
  appendEvent(subscriptionId: number, type: EventType, now: Date): Promise<void>;
  /** The stored outcome of a command seen before, or `null`. */
  findProcessed(commandKey: string): Promise<ProcessedCommand | null>;
  /** Records a command's outcome; a concurrent twin makes this fail with a duplicate key. */
  recordProcessed(
    record: ProcessedCommand & {
      idempotencyKey?: string | undefined;
      messageId?: string | undefined;
    },
    now: Date,
  ): Promise<void>;
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
  return {
    async inTransaction(work) {
      const connection = await pool.getConnection();
      let healthy = true;
      try {
        await connection.beginTransaction();
        const result = await work(bindTransaction(connection));
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

function bindTransaction(connection: PoolConnection): SubscriptionTransaction {
  return {
    async insertSubscription(userId, now) {
      // Selecting the user inside the insert makes "does the user exist" and the insert one step.
      const [result] = await connection.execute<ResultSetHeader>({
        sql: `INSERT INTO subscription (user_id, status_id, created_at)
              SELECT id, ?, ? FROM \`user\` WHERE id = ?`,
        values: [STATUS_IDS.ACTIVE, now, userId],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return result.affectedRows === 1 ? result.insertId : null;
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

    async appendEvent(subscriptionId, type, now) {
      await connection.execute({
        sql: 'INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, ?, ?)',
        values: [subscriptionId, type, now],
        timeout: STATEMENT_TIMEOUT_MS,
      });
    },

    async findProcessed(commandKey) {
      const [rows] = await connection.execute<ProcessedRow[]>({
        sql: 'SELECT request_hash, reply FROM processed_command WHERE command_key = ?',
        values: [commandKey],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      const row = rows[0];
      if (!row) return null;
      return { commandKey, requestHash: row.request_hash, reply: JSON.parse(row.reply) as Reply };
    },

    async recordProcessed(record, now) {
      await connection.execute({
        sql: `INSERT INTO processed_command
                (command_key, request_hash, idempotency_key, message_id, reply, created_at)
              VALUES (?, ?, ?, ?, ?, ?)`,
        values: [
          record.commandKey,
          record.requestHash,
          record.idempotencyKey ?? null,
          record.messageId ?? null,
          JSON.stringify(record.reply),
          now,
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
