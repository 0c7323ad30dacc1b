import type { Subscription, SubscriptionStatus } from '@subscriptions/contracts';
import type { RowDataPacket } from 'mysql2/promise';

/**
 * Ids of the seeded `status` rows (mysql-init/001-schema.sql), the only place they are written
 * down: the code speaks of statuses by name, the SQL takes these ids as parameters (so that a
 * filter on the status uses the subscription's own index).
 */
export const STATUS_IDS: Record<SubscriptionStatus, number> = { ACTIVE: 1, CANCELED: 2 };

/**
 * Subscriptions with their status by name, as `toSubscription` reads them; callers add their
 * `WHERE`. The consumer reads a row back after changing it, the producer's read model serves them.
 * `STRAIGHT_JOIN` keeps the subscription the driving table: left to itself the optimizer may start
 * from the two-row `status` table, and then has to sort every subscription of a status to find
 * the first page (seconds with millions of rows).
 */
export const SELECT_SUBSCRIPTIONS = `SELECT s.id, s.user_id, st.status_name AS status, s.created_at, s.updated_at, s.version
  FROM subscription s STRAIGHT_JOIN status st ON st.id = s.status_id`;

export interface SubscriptionRow extends RowDataPacket {
  id: number;
  user_id: number;
  status: SubscriptionStatus;
  created_at: Date;
  updated_at: Date | null;
  /** Applied changes since the purchase; not part of the Subscription, but of its events. */
  version: number;
}

/** `Number()`: the driver may hand BIGINT ids over as strings. DATETIME columns hold UTC. */
export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: Number(row.id),
    user_id: Number(row.user_id),
    status: row.status,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at ? row.updated_at.toISOString() : null,
  };
}
