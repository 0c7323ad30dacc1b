import type { EventType, Reply, Subscription, SubscriptionStatus } from '@subscriptions/contracts';
import {
  SELECT_SUBSCRIPTIONS,
  type SubscriptionRow,
  toSubscription,
} from '@subscriptions/platform';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import {
  runTransaction,
  type Statement,
  type Transaction,
  type TransactionOutcome,
} from '../db/transaction';

/**
 * Ids of the seeded `status` rows (mysql-init/001-schema.sql), the only place they are written
 * down: the state machine speaks of statuses by name, the SQL takes these ids as parameters.
 */
const STATUS_IDS: Record<SubscriptionStatus, number> = { ACTIVE: 1, CANCELED: 2 };

/** Milliseconds any one statement may run before the command is treated as failed. */
const STATEMENT_TIMEOUT_MS = 8_000;

/** A cancel or restart, as one conditional update. */
export interface StatusUpdate {
  id: number;
  from: SubscriptionStatus;
  to: SubscriptionStatus;
  /** Restricts the update to this user's subscription. */
  ownerId?: number | undefined;
}

export interface StatusUpdateResult {
  /** False when the row was not in `from` (or, given `ownerId`, belongs to another user). */
  applied: boolean;
  /** The row after the update; `null` when it does not exist or belongs to another user. */
  subscription: Subscription | null;
  /** Its version after the update (applied changes since the purchase). */
  version: number;
}

/** One applied change, as its history row (and so its event) records it. */
export interface AppliedChange {
  subscriptionId: number;
  type: EventType;
  /** The subscription's version after the change: 0 for a purchase. */
  version: number;
  /** The X-Request-Id of the request that made it, carried into its event. */
  requestId?: string | undefined;
}

/**
 * The statements commands run inside one transaction, shaped for batches: each call is one
 * round trip to the database whatever the number of commands, and the writes nobody waits on
 * (events, processed records) travel with the commit.
 */
export interface SubscriptionTransaction {
  /** What a batch must know before it changes anything: commands seen before, users that exist. */
  lookUp(query: { commandKeys: readonly string[]; userIds: readonly number[] }): Promise<{
    processed: Map<string, ProcessedCommand>;
    users: Set<number>;
  }>;
  /** Creates one subscription in `status` per user id, in one statement; returns their ids in order. */
  insertSubscriptions(
    userIds: readonly number[],
    status: SubscriptionStatus,
    now: Date,
  ): Promise<number[]>;
  /**
   * Applies the updates in order (one subscription may appear twice), each deciding its
   * transition atomically, and reads each row right after its update.
   */
  changeStatuses(updates: readonly StatusUpdate[], now: Date): Promise<StatusUpdateResult[]>;
  /**
   * Sent with the commit, in commit order: every transaction appending events takes the event
   * commit lock first, so events become visible in id order (mysql-init/004-events.sql).
   */
  appendEvents(events: readonly AppliedChange[], now: Date): void;
  /** Sent with the commit; a twin committed meanwhile makes the transaction end as `duplicate`. */
  recordProcessedMany(records: readonly ProcessedRecord[], now: Date): void;
  /** Sent with the commit; an outcome already recorded for a command id is kept. */
  recordOutcomes(outcomes: readonly CommandOutcome[], now: Date): void;
}

/** How a command ended, under its command id (docs/contract.md, "Command"). */
export interface CommandOutcome {
  commandId: string;
  reply: Reply;
  requestId?: string | undefined;
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
  /**
   * Runs `work` in one transaction: it commits when `work` resolves, rolls back when it throws,
   * and the outcome says which, and what a failure means.
   */
  inTransaction<T>(
    work: (tx: SubscriptionTransaction) => Promise<T>,
  ): Promise<TransactionOutcome<T>>;
  /** Records the outcome of a command that ended outside a transaction (dead-lettered). */
  recordOutcome(outcome: CommandOutcome, now: Date): Promise<void>;
  /**
   * Deletes up to `limit` processed-command records and command outcomes older than `before`;
   * returns how many.
   */
  purgeProcessedBefore(before: Date, limit: number): Promise<number>;
}

/** Keeps the first outcome of a command id: a redelivery's replay or a late dead-letter adds none. */
const INSERT_OUTCOMES = `INSERT INTO command_outcome (command_id, reply, request_id, completed_at)
  VALUES ? ON DUPLICATE KEY UPDATE command_id = command_id`;

const outcomeRow = ({ commandId, reply, requestId }: CommandOutcome, now: Date) => [
  commandId,
  JSON.stringify(reply),
  requestId ?? null,
  now,
];

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
    inTransaction: (work) =>
      runTransaction(pool, STATEMENT_TIMEOUT_MS, (transaction) =>
        work(bindTransaction(transaction, autoIncrementStep)),
      ),

    async recordOutcome(outcome, now) {
      await pool.query({
        sql: INSERT_OUTCOMES,
        values: [[outcomeRow(outcome, now)]],
        timeout: STATEMENT_TIMEOUT_MS,
      });
    },

    async purgeProcessedBefore(before, limit) {
      let deleted = 0;
      for (const sql of [
        'DELETE FROM processed_command WHERE created_at < ? LIMIT ?',
        'DELETE FROM command_outcome WHERE completed_at < ? LIMIT ?',
      ]) {
        const [result] = await pool.query<ResultSetHeader>({
          sql,
          values: [before, limit],
          timeout: STATEMENT_TIMEOUT_MS,
        });
        deleted += result.affectedRows;
      }
      return deleted;
    },
  };
}

interface ProcessedRow extends RowDataPacket {
  command_key: string;
  request_hash: string;
  reply: string;
}

const SELECT_SUBSCRIPTION = `${SELECT_SUBSCRIPTIONS} WHERE s.id = ?`;

function bindTransaction(
  transaction: Transaction,
  autoIncrementStep: () => Promise<number>,
): SubscriptionTransaction {
  return {
    async lookUp({ commandKeys, userIds }) {
      const statements: Statement[] = [];
      if (commandKeys.length > 0) {
        statements.push({
          sql: 'SELECT command_key, request_hash, reply FROM processed_command WHERE command_key IN (?)',
          values: [commandKeys],
        });
      }
      if (userIds.length > 0) {
        statements.push({ sql: 'SELECT id FROM `user` WHERE id IN (?)', values: [userIds] });
      }
      const results = statements.length > 0 ? await transaction.run(statements) : [];
      const processed = new Map<string, ProcessedCommand>();
      const processedRows = (commandKeys.length > 0 ? results.shift() : []) as ProcessedRow[];
      for (const row of processedRows) {
        processed.set(row.command_key, {
          commandKey: row.command_key,
          requestHash: row.request_hash,
          reply: JSON.parse(row.reply) as Reply,
        });
      }
      const userRows = (userIds.length > 0 ? results.shift() : []) as RowDataPacket[];
      return { processed, users: new Set(userRows.map((row) => Number(row['id']))) };
    },

    async insertSubscriptions(userIds, status, now) {
      if (userIds.length === 0) return [];
      const [result] = (await transaction.run([
        {
          sql: 'INSERT INTO subscription (user_id, status_id, created_at) VALUES ?',
          values: [userIds.map((userId) => [userId, STATUS_IDS[status], now])],
        },
      ])) as [ResultSetHeader];
      if (result.affectedRows !== userIds.length) {
        throw new Error(`inserted ${result.affectedRows} of ${userIds.length} subscriptions`);
      }
      // A multi-row INSERT ... VALUES is a "simple insert": InnoDB gives it one run of ids,
      // spaced by auto_increment_increment, in every auto-increment lock mode.
      const step = await autoIncrementStep();
      return userIds.map((_, index) => result.insertId + index * step);
    },

    async changeStatuses(updates, now) {
      if (updates.length === 0) return [];
      const results = await transaction.run(
        updates.flatMap(({ id, from, to, ownerId }) => {
          // Another user's row is neither changed nor read back, so it looks absent.
          const owner = ownerId === undefined ? [] : [ownerId];
          const [updateIfOwned, readIfOwned] =
            ownerId === undefined ? ['', ''] : [' AND user_id = ?', ' AND s.user_id = ?'];
          return [
            {
              sql: `UPDATE subscription SET status_id = ?, updated_at = ?, version = version + 1
                    WHERE id = ? AND status_id = ?${updateIfOwned}`,
              values: [STATUS_IDS[to], now, id, STATUS_IDS[from], ...owner],
            },
            {
              sql: `${SELECT_SUBSCRIPTION}${readIfOwned}`,
              values: [id, ...owner],
            },
          ];
        }),
      );
      return updates.map((_, index) => {
        const update = results[2 * index] as ResultSetHeader;
        const [row] = results[2 * index + 1] as SubscriptionRow[];
        return {
          applied: update.affectedRows === 1,
          subscription: row ? toSubscription(row) : null,
          version: row ? Number(row.version) : 0,
        };
      });
    },

    appendEvents(events, now) {
      if (events.length === 0) return;
      // Held from here to the COMMIT, which travels in the same round trip: microseconds.
      transaction.defer({ sql: 'SELECT id FROM event_commit_lock WHERE id = 1 FOR UPDATE' });
      transaction.defer({
        sql: 'INSERT INTO event_history (subscription_id, type, version, request_id, created_at) VALUES ?',
        values: [
          events.map((event) => [
            event.subscriptionId,
            event.type,
            event.version,
            event.requestId ?? null,
            now,
          ]),
        ],
      });
    },

    recordProcessedMany(records, now) {
      if (records.length === 0) return;
      transaction.defer({
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
      });
    },

    recordOutcomes(outcomes, now) {
      if (outcomes.length === 0) return;
      transaction.defer({
        sql: INSERT_OUTCOMES,
        values: [outcomes.map((outcome) => outcomeRow(outcome, now))],
      });
    },
  };
}
