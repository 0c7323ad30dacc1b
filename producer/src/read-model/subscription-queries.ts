import {
  replySchema,
  type EventType,
  type Subscription,
  type SubscriptionStatus,
} from '@subscriptions/contracts';
import {
  classifyDatabaseError,
  SELECT_SUBSCRIPTIONS,
  type SubscriptionRow,
  toSubscription,
} from '@subscriptions/platform';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { AppError } from '../errors';
import type { StoredOutcome } from '../http/command-outcome';

/** Milliseconds a read may take before the request fails with 503. */
const QUERY_TIMEOUT_MS = 5_000;

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

export interface SubscriptionQueries {
  /** `null` when it does not exist or, given `ownerId`, belongs to another user. */
  findSubscription(id: number, ownerId?: number): Promise<Subscription | null>;
  /** Oldest first; `null` as for `findSubscription`. */
  findHistory(id: number, ownerId?: number): Promise<SubscriptionEvent[] | null>;
  /** In id order, `limit` at most, after the cursor `startingAfter`. */
  listSubscriptions(filter: ListFilter): Promise<SubscriptionPage>;
  /** How the command `commandId` ended; `null` while it is pending (or unknown). */
  findCommandOutcome(commandId: string): Promise<StoredOutcome | null>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
}

interface OutcomeRow extends RowDataPacket {
  reply: string;
  request_id: string | null;
  completed_at: Date;
}

interface EventRow extends RowDataPacket {
  id: number;
  subscription_id: number;
  type: EventType;
  created_at: Date;
}

/** A read the database could not serve right now becomes a 503; anything else stays a bug. */
async function guarded<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (classifyDatabaseError(error) === 'transient') {
      throw new AppError('database_unavailable', 'the database is unreachable; try again shortly');
    }
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
        pool.execute<EventRow[]>({
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
        where.push('st.status_name = ?');
        values.push(status);
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

    async findCommandOutcome(commandId) {
      const [rows] = await guarded(() =>
        pool.execute<OutcomeRow[]>({
          sql: 'SELECT reply, request_id, completed_at FROM command_outcome WHERE command_id = ?',
          values: [commandId],
          timeout: QUERY_TIMEOUT_MS,
        }),
      );
      const row = rows[0];
      if (!row) return null;
      return {
        reply: replySchema.parse(JSON.parse(row.reply)),
        requestId: row.request_id,
        completedAt: row.completed_at,
      };
    },

    async ping() {
      await guarded(() => pool.query({ sql: 'SELECT 1', timeout: QUERY_TIMEOUT_MS }));
    },
  };
}
