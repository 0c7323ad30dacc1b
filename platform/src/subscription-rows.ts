import type { Subscription, SubscriptionStatus } from '@subscriptions/contracts';
import type { RowDataPacket } from 'mysql2/promise';

/**
 * Subscriptions with their status by name, as `toSubscription` reads them; callers add their
 * `WHERE`. The consumer reads a row back after changing it, the producer's read model serves them.
 */
export const SELECT_SUBSCRIPTIONS = `SELECT s.id, s.user_id, st.status_name AS status, s.created_at, s.updated_at, s.version
  FROM subscription s JOIN status st ON st.id = s.status_id`;

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
