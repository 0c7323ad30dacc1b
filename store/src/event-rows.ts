import {
  CLOUD_EVENT_TYPES,
  type CloudEvent,
  EVENT_SOURCE,
  type EventType,
  STATUS_AFTER,
} from '@subscriptions/contracts';
import type { RowDataPacket } from 'mysql2/promise';

/**
 * The columns `toCloudEvent` reads, from `event_history e` joined with `subscription s`; callers
 * add the FROM, their filters and the id order. The relay publishes these, the feed serves them.
 */
export const EVENT_COLUMNS = `e.id, e.subscription_id, e.type, e.version, e.request_id, e.created_at,
  s.user_id, s.created_at AS subscription_created_at`;

/** A history row with its subscription's fixed fields, as `toCloudEvent` reads it. */
export interface EventFields {
  id: number | string;
  subscription_id: number | string;
  type: EventType;
  version: number;
  request_id: string | null;
  created_at: Date;
  user_id: number | string;
  subscription_created_at: Date;
}

export interface EventRow extends RowDataPacket, EventFields {
  id: number | string;
}

/**
 * One history row as its CloudEvent. The subscription after the change follows from the row:
 * its id, owner and creation time never change, its status is the one the change leads to, and
 * `updated_at` is the change's own time (none after the purchase).
 */
export function toCloudEvent(row: EventFields): CloudEvent {
  const time = row.created_at.toISOString();
  const purchase = row.type === 'SUBSCRIPTION_PURCHASED';
  return {
    specversion: '1.0',
    id: String(row.id),
    source: EVENT_SOURCE,
    type: CLOUD_EVENT_TYPES[row.type],
    subject: String(row.subscription_id),
    time,
    datacontenttype: 'application/json',
    data: {
      subscription: {
        id: Number(row.subscription_id),
        user_id: Number(row.user_id),
        status: STATUS_AFTER[row.type],
        created_at: row.subscription_created_at.toISOString(),
        updated_at: purchase ? null : time,
      },
      version: Number(row.version),
    },
  };
}
