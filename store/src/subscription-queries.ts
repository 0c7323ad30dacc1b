import {
  CLOUD_EVENT_TYPES,
  type CloudEvent,
  type CloudEventType,
  type EventType,
  type Reply,
  type Subscription,
  type SubscriptionStatus,
} from '@subscriptions/contracts';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import {
  COMMAND_RECORD_COLUMNS,
  COMMAND_RECORD_JOINS,
  type CommandRecordRow,
  commandRecordKey,
  toRecordedOutcome,
} from './command-records';
import { classifyDatabaseError } from './database-errors';
import { EVENT_COLUMNS, type EventRow, toCloudEvent } from './event-rows';
import {
  SELECT_SUBSCRIPTIONS,
  STATUS_IDS,
  type SubscriptionRow,
  toSubscription,
} from './subscription-rows';

/**
 * Milliseconds a read may take before the request fails with 503: long enough that a read which
 * is merely slow (a cold buffer pool, a busy server) is answered, short enough that a database
 * that stopped answering is reported within a client's patience.
 */
const QUERY_TIMEOUT_MS = 30_000;

export interface SubscriptionEvent {
  id: number;
  subscription_id: number;
  type: EventType;
  created_at: string;
}

export interface ListFilter {
  userId?: number | undefined;
  status?: SubscriptionStatus | undefined;
  limit: number;
  startingAfter?: number | undefined;
}

export interface SubscriptionPage {
  data: Subscription[];
  has_more: boolean;
}

export interface EventFilter {
  /** Only events of this user's subscriptions. */
  userId?: number | undefined;
  subscriptionId?: number | undefined;
  type?: CloudEventType | undefined;
  limit: number;
  startingAfter?: number | undefined;
}

export interface EventPage {
  data: CloudEvent[];
  has_more: boolean;
}

/** How a command ended, as its record says. */
export interface CommandOutcome {
  reply: Reply;
  /** The X-Request-Id of the request that sent it, for the problem a refusal answers. */
  requestId: string | null;
  completedAt: Date;
}

/**
 * A read the database cannot serve right now (it is away, overloaded, or lost a race): the
 * same read can succeed shortly. Any other failure of a read is a bug and stays what it is.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the database is unreachable; try again shortly', { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/** The history's name for each CloudEvents type. */
const HISTORY_TYPES = Object.fromEntries(
  Object.entries(CLOUD_EVENT_TYPES).map(([history, cloud]) => [cloud, history]),
) as Record<CloudEventType, EventType>;

export interface SubscriptionQueries {
  /** `null` when it does not exist or, given `ownerId`, belongs to another user. */
  findSubscription(id: number, ownerId?: number): Promise<Subscription | null>;
  /** Oldest first; `null` as for `findSubscription`. */
  findHistory(id: number, ownerId?: number): Promise<SubscriptionEvent[] | null>;
  /** In id order, `limit` at most, after the cursor `startingAfter`. */
  listSubscriptions(filter: ListFilter): Promise<SubscriptionPage>;
  /**
   * Events in id order after the cursor. Ids are visible in order (each transaction appends its
   * events under the event commit lock), so a reader going on from the last id never skips one.
   */
  listEvents(filter: EventFilter): Promise<EventPage>;
  /** How the command `commandId` ended; `null` while it is pending (or unknown). */
  findCommandOutcome(commandId: string): Promise<CommandOutcome | null>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
}

interface HistoryRow extends RowDataPacket {
  id: number;
  subscription_id: number;
  type: EventType;
  created_at: Date;
}

/** A read the database could not serve right now fails as DatabaseUnavailableError. */
async function guarded<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (classifyDatabaseError(error) === 'transient') throw new DatabaseUnavailableError(error);
    throw error;
  }
}

/** The read side: plain parameterized queries against the read-only pool. */
export function createSubscriptionQueries(pool: Pool): SubscriptionQueries {
  return {
    async findSubscription(id, ownerId) {
      const [rows] = await guarded(() =>
        pool.execute<SubscriptionRow[]>({
          sql: `${SELECT_SUBSCRIPTIONS} WHERE s.id = ?${ownerId === undefined ? '' : ' AND s.user_id = ?'}`,
          values: ownerId === undefined ? [id] : [id, ownerId],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      const row = rows[0];
      return row ? toSubscription(row) : null;
    },

    async findHistory(id, ownerId) {
      const [rows] = await guarded(() =>
        pool.execute<HistoryRow[]>({
          sql: `SELECT e.id, e.subscription_id, e.type, e.created_at
              FROM subscription s LEFT JOIN event_history e ON e.subscription_id = s.id
              WHERE s.id = ?${ownerId === undefined ? '' : ' AND s.user_id = ?'} ORDER BY e.id`,
          values: ownerId === undefined ? [id] : [id, ownerId],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      if (rows.length === 0) return null;
      return rows
        .filter((row) => row.id !== null)
        .map((row) => ({
          id: Number(row.id),
          subscription_id: Number(row.subscription_id),
          type: row.type,
          created_at: row.created_at.toISOString(),
        }));
    },

    async listSubscriptions({ userId, status, limit, startingAfter }) {
      const where: string[] = [];
      const values: (number | string)[] = [];
      if (userId !== undefined) {
        where.push('s.user_id = ?');
        values.push(userId);
      }
      if (status !== undefined) {
        where.push('s.status_id = ?');
        values.push(STATUS_IDS[status]);
      }
      if (startingAfter !== undefined) {
        where.push('s.id > ?');
        values.push(startingAfter);
      }
      // One row past the page tells whether another page exists.
      const [rows] = await guarded(() =>
        pool.query<SubscriptionRow[]>({
          sql: `${SELECT_SUBSCRIPTIONS} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
              ORDER BY s.id LIMIT ?`,
          values: [...values, limit + 1],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      return {
        data: rows.slice(0, limit).map(toSubscription),
        has_more: rows.length > limit,
      };
    },

    async listEvents({ userId, subscriptionId, type, limit, startingAfter }) {
      const where = ['e.id > ?'];
      const values: (number | string)[] = [startingAfter ?? 0];
      if (userId !== undefined) {
        where.push('s.user_id = ?');
        values.push(userId);
      }
      if (subscriptionId !== undefined) {
        where.push('e.subscription_id = ?');
        values.push(subscriptionId);
      }
      if (type !== undefined) {
        where.push('e.type = ?');
        values.push(HISTORY_TYPES[type]);
      }
      // One user's events: start from their subscriptions (few), not from every event after the
      // cursor. Everyone's: walk the history in id order.
      const from =
        userId === undefined
          ? 'event_history e JOIN subscription s ON s.id = e.subscription_id'
          : 'subscription s STRAIGHT_JOIN event_history e ON e.subscription_id = s.id';
      const [rows] = await guarded(() =>
        pool.query<EventRow[]>({
          sql: `SELECT ${EVENT_COLUMNS} FROM ${from} WHERE ${where.join(' AND ')}
                ORDER BY e.id LIMIT ?`,
          values: [...values, limit + 1],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      return { data: rows.slice(0, limit).map(toCloudEvent), has_more: rows.length > limit };
    },

    async findCommandOutcome(commandId) {
      const { acceptedAt, idHash } = commandRecordKey(commandId);
      const [rows] = await guarded(() =>
        pool.query<CommandRecordRow[]>({
          sql: `SELECT ${COMMAND_RECORD_COLUMNS} FROM command_record c ${COMMAND_RECORD_JOINS}
                WHERE c.accepted_at = ? AND c.id_hash = ?`,
          values: [acceptedAt, idHash],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      const row = rows[0];
      return row ? toRecordedOutcome(row) : null;
    },

    async ping() {
      await guarded(() => pool.query({ sql: 'SELECT 1', timeout: QUERY_TIMEOUT_MS }));
    },
  };
}
