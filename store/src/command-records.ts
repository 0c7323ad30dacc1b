import { createHash } from 'node:crypto';
import { replyErrorSchema } from '@subscriptions/contracts';
import type { RowDataPacket } from 'mysql2/promise';
import { EVENT_COLUMNS, type EventFields, toCloudEvent } from './event-rows';
import type { CommandOutcome } from './subscription-queries';

/**
 * Where the record of a command lives in `command_record`: when the producer accepted it, read
 * from its id (`<type>.<accepted at, base 36>.…`), and a hash of the whole id. Rows are then
 * added in time order at the end of the table and purged from its start, so however many the
 * retention holds, only the newest pages are ever written. A message id of another form (a
 * message no producer of ours sent) gets time 0: it is remembered until the next purge.
 */
export interface CommandRecordKey {
  acceptedAt: number;
  /** The first 8 bytes of SHA-256 of the id: unique enough among the commands of one millisecond. */
  idHash: Buffer;
}

const ACCEPTED_AT = /^[a-z]+\.([0-9a-z]{1,11})\./;

export function commandRecordKey(commandId: string): CommandRecordKey {
  const match = ACCEPTED_AT.exec(commandId);
  const acceptedAt = match ? parseInt(match[1] as string, 36) : 0;
  return {
    acceptedAt: Number.isSafeInteger(acceptedAt) ? acceptedAt : 0,
    idHash: createHash('sha256').update(commandId).digest().subarray(0, 8),
  };
}

/** The columns `toRecordedOutcome` reads from `command_record c` joined with its event and subscription. */
export const COMMAND_RECORD_COLUMNS = `c.refusal, c.request_id AS command_request_id,
  c.completed_at, ${EVENT_COLUMNS}`;

/** The joins `COMMAND_RECORD_COLUMNS` needs after `command_record c`. */
export const COMMAND_RECORD_JOINS = `LEFT JOIN event_history e ON e.id = c.event_id
  LEFT JOIN subscription s ON s.id = e.subscription_id`;

export interface CommandRecordRow extends RowDataPacket, Omit<EventFields, 'id'> {
  /** The event's id; null when the command changed nothing (the event's fields are then null too). */
  id: number | string | null;
  refusal: string | null;
  command_request_id: string | null;
  completed_at: Date;
}

/**
 * The reply a recorded command gave. An applied command keeps no copy of it: its reply is the
 * subscription as its change left it, which its history row says (the same object its event
 * carries). A refusal keeps its error.
 */
export function toRecordedOutcome(row: CommandRecordRow): CommandOutcome {
  const base = { requestId: row.command_request_id, completedAt: row.completed_at };
  if (row.id !== null) {
    const event = toCloudEvent({ ...row, id: row.id });
    return { ...base, reply: { ok: true, subscription: event.data.subscription } };
  }
  const error = replyErrorSchema.parse(JSON.parse(row.refusal ?? 'null'));
  return { ...base, reply: { ok: false, error } };
}
