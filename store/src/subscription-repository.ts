import type {
  EventType,
  Reply,
  ReplyError,
  Subscription,
  SubscriptionStatus,
  TraceContext,
} from '@subscriptions/contracts';
import mysql, { type Pool, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import {
  COMMAND_RECORD_COLUMNS,
  COMMAND_RECORD_JOINS,
  type CommandRecordKey,
  type CommandRecordRow,
  commandRecordKey,
  toRecordedOutcome,
} from './command-records';
import {
  SELECT_SUBSCRIPTIONS,
  STATUS_IDS,
  type SubscriptionRow,
  toSubscription,
} from './subscription-rows';
import { classifyDatabaseError } from './database-errors';
import { traceContextText } from './event-rows';
import {
  runTransaction,
  type Statement,
  type StatementTravel,
  type Transaction,
  type TransactionOutcome,
} from './transaction';

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
  /** The trace of that request, which its event is published in. */
  traceContext?: TraceContext | undefined;
}

/**
 * The statements commands run inside one transaction, shaped for batches: each call is one
 * round trip to the database whatever the number of commands, and the writes nobody waits on
 * (events, command records) travel with the commit.
 */
export interface SubscriptionTransaction {
  /**
   * The first round trip of a batch: what it must know (the commands recorded before, by their
   * record key; the Idempotency-Keys used before, by their hash, hex) and, in the same trip, a
   * new subscription in `status` for each purchase's user id, or `null` where no such user
   * exists. The purchases go ahead before the answers are known, so a purchase the batch does
   * not apply after all (a repeat of a recorded command) must be withdrawn before the commit.
   */
  lookUpAndPurchase(query: {
    records: readonly CommandRecordKey[];
    keys: readonly Buffer[];
    purchases: { userIds: readonly number[]; status: SubscriptionStatus; now: Date };
  }): Promise<{
    recorded: Map<string, StoredResult>;
    keyed: Map<string, KeyedResult>;
    created: (number | null)[];
  }>;
  /** Sent with the commit: deletes subscriptions this transaction created and does not keep. */
  withdrawPurchases(ids: readonly number[]): void;
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
  /**
   * Sent with the commit, after the events; the same command recorded meanwhile (another
   * delivery of it) makes the transaction end as `duplicate`, and the batch then replays it.
   */
  recordCommands(records: readonly CommandRecord[], now: Date): void;
  /** Sent with the commit: each key, and the command whose record is its outcome. */
  recordKeys(keys: readonly KeyRecord[]): void;
}

/** `commandRecordKey` as text, to find a record in the maps `lookUpAndPurchase` answers. */
export const recordKeyText = ({ acceptedAt, idHash }: CommandRecordKey) =>
  `${acceptedAt}:${idHash.toString('hex')}`;

/** What a command did: its event (among this transaction's, or one before), or its refusal. */
export type CommandResult = { eventIndex: number } | { eventId: number } | { refusal: ReplyError };

/** A command found recorded: the reply it gave, and what it did (to record a repeat alike). */
export interface StoredResult {
  reply: Reply;
  result: { eventId: number } | { refusal: ReplyError };
}

export interface KeyedResult extends StoredResult {
  requestHash: Buffer;
}

export interface CommandRecord {
  key: CommandRecordKey;
  result: CommandResult;
  /** The request that sent it, kept for the problem a refusal answers. */
  requestId?: string | undefined;
}

export interface KeyRecord {
  keyHash: Buffer;
  requestHash: Buffer;
  command: CommandRecordKey;
}

/** How a command that ended outside a transaction (dead-lettered) is recorded. */
export interface UnappliedCommand {
  commandId: string;
  error: ReplyError;
  requestId?: string | undefined;
}

export interface SubscriptionRepository {
  /**
   * Runs `work` in one transaction: it commits when `work` resolves, rolls back when it throws,
   * and the outcome says which, and what a failure means.
   */
  inTransaction<T>(
    work: (tx: SubscriptionTransaction) => Promise<T>,
  ): Promise<TransactionOutcome<T>>;
  /**
   * Records a command that ended unapplied; a record already there (it was applied) is kept.
   * A failure comes back as data saying whether the same write can succeed later.
   */
  recordUnapplied(command: UnappliedCommand, now: Date): Promise<TransactionOutcome<void>>;
  /**
   * Deletes up to `limit` command records and Idempotency-Keys of commands accepted before
   * `before`; returns how many.
   */
  purgeRecordsBefore(before: Date, limit: number): Promise<number>;
  /** Resolves when the database answers a trivial query in time (readiness). */
  ping(): Promise<void>;
}

/** Characters `command_record.refusal` holds (mysql-init/005-command-record.sql). */
const REFUSAL_CHARS = 1024;

/**
 * A refusal as its record keeps it: its JSON, the message cut short (ending in "…") where the
 * whole would not fit. Only a poison command's parser message can be that long, and a value
 * over the column's size would fail the statement, and so the record, for good.
 */
function refusalText(error: ReplyError): string {
  let text = JSON.stringify(error);
  let { message } = error;
  while (text.length > REFUSAL_CHARS) {
    // JSON escapes can make a character longer than one: cut, measure again.
    message = message.slice(0, Math.max(0, message.length - (text.length - REFUSAL_CHARS) - 1));
    text = JSON.stringify({ ...error, message: `${message}…` });
  }
  return text;
}

const INSERT_RECORDS = `INSERT INTO command_record
    (accepted_at, id_hash, event_id, refusal, request_id, completed_at) VALUES ?`;

/** Keeps the first record of a command id: a late dead letter adds none to an applied command. */
const INSERT_RECORDS_UNLESS_THERE = `${INSERT_RECORDS} ON DUPLICATE KEY UPDATE accepted_at = accepted_at`;

/** What to take as known of the server, over what it answers. */
export interface RepositoryOptions {
  /**
   * Whether a multi-row insert can answer its rows' ids (`INSERT ... RETURNING`: MariaDB yes,
   * MySQL no). Asked of the server when not given; tests set `false` to run MySQL's statements
   * on MariaDB.
   */
  insertReturning?: boolean;
}

export function createSubscriptionRepository(
  pool: Pool,
  options: RepositoryOptions = {},
): SubscriptionRepository {
  const traitsOfServer = serverTraitsOf(pool);
  return {
    async inTransaction(work) {
      let traits: ServerTraits;
      try {
        traits = await traitsOfServer();
      } catch (error) {
        return { kind: classifyDatabaseError(error), error };
      }
      const insertReturning = options.insertReturning ?? traits.insertReturning;
      return runTransaction(
        pool,
        STATEMENT_TIMEOUT_MS,
        (transaction) => work(bindTransaction(transaction, { insertReturning })),
        traits.travel,
      );
    },

    async recordUnapplied({ commandId, error, requestId }, now) {
      const { acceptedAt, idHash } = commandRecordKey(commandId);
      try {
        await pool.query({
          sql: INSERT_RECORDS_UNLESS_THERE,
          values: [[[acceptedAt, idHash, null, refusalText(error), requestId ?? null, now]]],
          timeout: STATEMENT_TIMEOUT_MS,
        });
        return { kind: 'committed', value: undefined };
      } catch (failure) {
        return { kind: classifyDatabaseError(failure), error: failure };
      }
    },

    async ping() {
      await pool.query({ sql: 'SELECT 1', timeout: STATEMENT_TIMEOUT_MS });
    },

    async purgeRecordsBefore(before, limit) {
      let deleted = 0;
      // Keys first, and the oldest of each first: a key must never outlive the record that is
      // its outcome (a key and its record share their time).
      for (const sql of [
        'DELETE FROM idempotency_key WHERE accepted_at < ? ORDER BY accepted_at LIMIT ?',
        'DELETE FROM command_record WHERE accepted_at < ? ORDER BY accepted_at LIMIT ?',
      ]) {
        const [result] = await pool.query<ResultSetHeader>({
          sql,
          values: [before.getTime(), limit],
          timeout: STATEMENT_TIMEOUT_MS,
        });
        deleted += result.affectedRows;
      }
      return deleted;
    },
  };
}

interface RecordRow extends CommandRecordRow {
  accepted_at: number | string;
  id_hash: Buffer;
  event_id: number | string | null;
}

interface KeyRow extends CommandRecordRow {
  key_hash: Buffer;
  request_hash: Buffer;
  event_id: number | string | null;
}

/** What a recorded command replied, and what it did, so that a repeat is recorded alike. */
function storedResult(row: CommandRecordRow & { event_id: number | string | null }): StoredResult {
  const { reply } = toRecordedOutcome(row);
  return {
    reply,
    result: reply.ok ? { eventId: Number(row.event_id) } : { refusal: reply.error },
  };
}

const SELECT_SUBSCRIPTION = `${SELECT_SUBSCRIPTIONS} WHERE s.id = ?`;

/** What transactions on a pool do differently by server. */
interface ServerTraits {
  /** One by one on a MariaDB Galera node, packed elsewhere (transaction.ts says why). */
  travel: StatementTravel;
  /** MariaDB's inserts can answer the rows they wrote (`RETURNING`); MySQL's cannot. */
  insertReturning: boolean;
}

/**
 * Asks the server once what it is; asks again after a failure, so a database that is away at
 * start is asked when it returns.
 */
function serverTraitsOf(pool: Pool): () => Promise<ServerTraits> {
  let known: Promise<ServerTraits> | undefined;
  return () => {
    known ??= pool
      .query<RowDataPacket[]>({
        sql: "SHOW VARIABLES WHERE Variable_name IN ('version', 'wsrep_on')",
        timeout: STATEMENT_TIMEOUT_MS,
      })
      .then(([rows]): ServerTraits => {
        const value = (name: string) =>
          String(rows.find((row) => row['Variable_name'] === name)?.['Value'] ?? '');
        return {
          travel: value('wsrep_on') === 'ON' ? 'one-by-one' : 'packed',
          insertReturning: value('version').includes('MariaDB'),
        };
      })
      .catch((error: unknown) => {
        known = undefined;
        throw error;
      });
    return known;
  };
}

/**
 * Records commands whose results are changes of this transaction, with each change's history
 * row as the server finds it (a subscription's version is unique among its events), whatever
 * ids the server, or a cluster's node, handed out. One join of all of them: a look-up of its
 * own for each record cost the server about twice the insert itself.
 */
function insertRecordsOfChanges(
  changes: readonly { change: AppliedChange; key: CommandRecordKey }[],
  now: Date,
): Statement {
  const rows = changes.map(({ change, key }, index) =>
    mysql.format(
      index === 0
        ? 'SELECT ? AS subscription_id, ? AS version, ? AS accepted_at, ? AS id_hash'
        : 'SELECT ?, ?, ?, ?',
      [change.subscriptionId, change.version, key.acceptedAt, key.idHash],
    ),
  );
  return {
    sql: `INSERT INTO command_record
            (accepted_at, id_hash, event_id, refusal, request_id, completed_at)
          SELECT r.accepted_at, r.id_hash, e.id, NULL, NULL, ?
          FROM (${rows.join(' UNION ALL ')}) r
          JOIN event_history e ON e.subscription_id = r.subscription_id AND e.version = r.version`,
    values: [now],
  };
}

interface CreatedRow extends RowDataPacket {
  id: number;
  user_id: number;
}

/**
 * The new subscription of each purchase, from the rows one insert answered: a user's rows in
 * turn to that user's purchases (they are alike but for their ids), and `null` to a purchase
 * whose user got no row (there is no such user).
 */
function createdIdsOf(userIds: readonly number[], rows: readonly CreatedRow[]): (number | null)[] {
  const ids = new Map<number, number[]>();
  for (const row of rows) {
    const userId = Number(row.user_id);
    const list = ids.get(userId) ?? [];
    list.push(Number(row.id));
    ids.set(userId, list);
  }
  return userIds.map((userId) => ids.get(userId)?.shift() ?? null);
}

function bindTransaction(
  transaction: Transaction,
  server: { insertReturning: boolean },
): SubscriptionTransaction {
  /** The changes `appendEvents` wrote, by index: what `{ eventIndex }` results point at. */
  const appended: AppliedChange[] = [];
  return {
    async lookUpAndPurchase({ records, keys, purchases }) {
      const statements: Statement[] = [];
      if (records.length > 0) {
        statements.push({
          sql: `SELECT c.accepted_at, c.id_hash, c.event_id, ${COMMAND_RECORD_COLUMNS}
                FROM command_record c ${COMMAND_RECORD_JOINS}
                WHERE (c.accepted_at, c.id_hash) IN (?)`,
          values: [records.map(({ acceptedAt, idHash }) => [acceptedAt, idHash])],
        });
      }
      if (keys.length > 0) {
        statements.push({
          sql: `SELECT k.key_hash, k.request_hash, c.event_id, ${COMMAND_RECORD_COLUMNS}
                FROM idempotency_key k
                JOIN command_record c ON c.accepted_at = k.accepted_at AND c.id_hash = k.id_hash
                ${COMMAND_RECORD_JOINS}
                WHERE k.key_hash IN (?)`,
          values: [keys],
        });
      }
      const { userIds } = purchases;
      const status = STATUS_IDS[purchases.status];
      // IGNORE: a missing user's row is not inserted, and the rest goes on (no other error can
      // arise from these rows). Ids come from the rows, never from a step (a cluster's nodes
      // change theirs): the insert answers them where it can, else each row is a statement.
      const returning = server.insertReturning && userIds.length > 0;
      if (returning) {
        statements.push({
          sql: `INSERT IGNORE INTO subscription (user_id, status_id, created_at) VALUES ?
                RETURNING id, user_id`,
          values: [userIds.map((userId) => [userId, status, purchases.now])],
        });
      } else {
        for (const userId of userIds) {
          statements.push({
            sql: 'INSERT IGNORE INTO subscription (user_id, status_id, created_at) VALUES (?, ?, ?)',
            values: [userId, status, purchases.now],
          });
        }
      }
      const results = statements.length > 0 ? await transaction.run(statements) : [];
      const recordRows = (records.length > 0 ? results.shift() : []) as RecordRow[];
      const keyRows = (keys.length > 0 ? results.shift() : []) as KeyRow[];
      return {
        recorded: new Map(
          recordRows.map((row) => [
            recordKeyText({ acceptedAt: Number(row.accepted_at), idHash: row.id_hash }),
            storedResult(row),
          ]),
        ),
        keyed: new Map(
          keyRows.map((row) => [
            row.key_hash.toString('hex'),
            { ...storedResult(row), requestHash: row.request_hash },
          ]),
        ),
        created: returning
          ? createdIdsOf(userIds, results[0] as CreatedRow[])
          : (results as ResultSetHeader[]).map((result) =>
              result.affectedRows === 1 ? result.insertId : null,
            ),
      };
    },

    withdrawPurchases(ids) {
      if (ids.length === 0) return;
      transaction.defer({ sql: 'DELETE FROM subscription WHERE id IN (?)', values: [ids] });
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
      appended.push(...events);
      // Held from here to the COMMIT, which travels in the same round trip: no network wait,
      // only the inserts and the commit itself (with MySQL's binary log on, its flush). A write,
      // not a mere lock, so that two such transactions on two nodes of a cluster conflict too.
      transaction.defer({
        sql: 'UPDATE event_commit_lock SET commits = commits + 1 WHERE id = 1',
      });
      transaction.defer({
        sql: `INSERT INTO event_history
                (subscription_id, type, version, request_id, trace_context, created_at) VALUES ?`,
        values: [
          events.map((event) => [
            event.subscriptionId,
            event.type,
            event.version,
            event.requestId ?? null,
            traceContextText(event.traceContext),
            now,
          ]),
        ],
      });
    },

    recordCommands(records, now) {
      const changes: { change: AppliedChange; key: CommandRecordKey }[] = [];
      const others: unknown[][] = [];
      for (const { key, result, requestId } of records) {
        if ('eventIndex' in result) {
          const change = appended[result.eventIndex];
          if (!change)
            throw new Error(`no event ${result.eventIndex} was appended in this transaction`);
          changes.push({ change, key });
          continue;
        }
        const refusal = 'refusal' in result ? refusalText(result.refusal) : null;
        const event = 'eventId' in result ? result.eventId : null;
        others.push([
          key.acceptedAt,
          key.idHash,
          event,
          refusal,
          refusal ? (requestId ?? null) : null,
          now,
        ]);
      }
      if (others.length > 0) transaction.defer({ sql: INSERT_RECORDS, values: [others] });
      if (changes.length > 0) transaction.defer(insertRecordsOfChanges(changes, now));
    },

    recordKeys(keys) {
      if (keys.length === 0) return;
      transaction.defer({
        sql: 'INSERT INTO idempotency_key (key_hash, request_hash, accepted_at, id_hash) VALUES ?',
        values: [
          keys.map(({ keyHash, requestHash, command }) => [
            keyHash,
            requestHash,
            command.acceptedAt,
            command.idHash,
          ]),
        ],
      });
    },
  };
}
