import {
  CLOUD_EVENT_TYPES,
  type CloudEvent,
  EVENT_SOURCE,
  type EventType,
  STATUS_AFTER,
  type TraceContext,
  traceContextSchema,
} from '@subscriptions/contracts';
import type { RowDataPacket } from 'mysql2/promise';

/**
 * The columns `toCloudEvent` reads, from `event_history e` joined with `subscription s`; callers
 * add the FROM, their filters and the id order. The relay publishes these, the feed serves them.
 */
export const EVENT_COLUMNS = `e.id, e.subscription_id, e.type, e.version, e.request_id,
  e.trace_context, e.created_at, s.user_id, s.created_at AS subscription_created_at`;

/** A history row with its subscription's fixed fields, as `toCloudEvent` reads it. */
export interface EventFields {
  id: number | string;
  subscription_id: number | string;
  type: EventType;
  version: number;
  request_id: string | null;
  trace_context: string | null;
  created_at: Date;
  user_id: number | string;
  subscription_created_at: Date;
}

export interface EventRow extends RowDataPacket, EventFields {
  id: number | string;
}

/** Characters `event_history.trace_context` holds (mysql-init/007-event-trace-context.sql). */
const TRACE_CONTEXT_CHARS = 1024;

/**
 * A trace context as its history row keeps it, or `null` with none. It always fits the column:
 * a `tracestate` that would not is left out, as W3C allows a hop to drop it.
 */
export function traceContextText(traceContext: TraceContext | undefined): string | null {
  if (!traceContext) return null;
  const text = JSON.stringify(traceContext);
  if (text.length <= TRACE_CONTEXT_CHARS) return text;
  return JSON.stringify({ traceparent: traceContext.traceparent });
}

/** The trace context a history row keeps; anything else there (edited by hand) counts as none. */
export function readTraceContext(text: string | null): TraceContext | null {
  if (text === null) return null;
  try {
    const parsed = traceContextSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
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
    ...readTraceContext(row.trace_context),
  };
}
