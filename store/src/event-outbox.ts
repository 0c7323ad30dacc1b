import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CloudEvent, TraceContext } from '@subscriptions/contracts';
import { EVENT_COLUMNS, type EventRow, readTraceContext, toCloudEvent } from './event-rows';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/** Milliseconds any one statement of the relay may take. */
const STATEMENT_TIMEOUT_MS = 5_000;

/** An event waiting to be published, and the request it came from. */
export interface OutboxEvent {
  event: CloudEvent;
  /** Its history row's id: the relay's position once it is published. */
  position: number;
  requestId: string | null;
  /** The trace of the request that made the change, to publish the event in. */
  traceContext: TraceContext | null;
}

/** How the relay's lease is held. */
export interface LeaseSettings {
  /** How long a lease runs from its last renewal; another relay may take it after that. */
  leaseMs: number;
  /** How long the holder waits between renewals. */
  renewEveryMs: number;
}

export const DEFAULT_LEASE: LeaseSettings = { leaseMs: 5_000, renewEveryMs: 1_000 };

/**
 * The relay's side of the database: the history, read in id order from the relay's position, and
 * that position. One relay per database works at a time, by a lease in the `event_relay` row
 * (mysql-init/006): a row every node of a cluster sees alike, where a named lock would be one
 * node's alone. Each taking of the lease raises its term, and the position is only written under
 * the term that took it: a relay that lost the lease without noticing (it was frozen, its
 * database connection hung) cannot move the position, and learns at that write that it lost.
 */
export interface EventOutbox {
  /**
   * Takes the lease when it is free or expired, or keeps it (renewing it once due); resolves
   * whether this relay holds it. Cheap to call often: it writes only when a renewal is due.
   */
  lead(): Promise<boolean>;
  /** Whether it holds a lease that has not run out by its own clock. */
  isLeader(): boolean;
  /** How far the relay has published: every event up to this id is confirmed. */
  position(): Promise<number>;
  /** Up to `limit` events after `position`, oldest first. */
  readAfter(position: number, limit: number): Promise<OutboxEvent[]>;
  /**
   * Records that everything up to `position` is published; resolves the recorded position, which
   * is further when an operator moved it on (to skip the events of a bulk import, say). Rejects,
   * giving the lead up, when the lease was taken over meanwhile.
   */
  advance(position: number, now: Date): Promise<number>;
  /** Gives the lease up at once, so another relay need not wait for it to run out. */
  release(): Promise<void>;
}

/** The lease went to another relay: this one must stop publishing. */
export class LeaseLostError extends Error {
  constructor(holder: string) {
    super(`event relay ${holder}: the lease was taken over`);
    this.name = 'LeaseLostError';
  }
}

/** An update and a read after it, in one round trip: the update's header and the rows read. */
async function updateThenRead(
  pool: Pool,
  statement: { sql: string; values: unknown[] },
): Promise<[ResultSetHeader, RowDataPacket[]]> {
  const [results] = await pool.query<RowDataPacket[][]>({
    ...statement,
    timeout: STATEMENT_TIMEOUT_MS,
  });
  return [results[0] as unknown as ResultSetHeader, results[1] ?? []];
}

/** A name that tells operators which process leads (`SELECT leader FROM event_relay`). */
function holderName(): string {
  return `${hostname().slice(0, 20)}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export function createEventOutbox(
  pool: Pool,
  settings: LeaseSettings = DEFAULT_LEASE,
  now: () => number = Date.now,
): EventOutbox {
  const holder = holderName();
  const leaseMicros = settings.leaseMs * 1_000;
  let term: number | undefined;
  /** By this process's clock: a renewal sent at t holds until t + leaseMs at the latest. */
  let validUntil = 0;
  let renewedAt = 0;

  const isLeader = () => term !== undefined && now() < validUntil;

  function lose(): void {
    term = undefined;
    validUntil = 0;
  }

  async function take(): Promise<boolean> {
    const sentAt = now();
    const [taken, rows] = await updateThenRead(pool, {
      sql: `UPDATE event_relay
              SET leader = ?, term = term + 1, lease_until = NOW(3) + INTERVAL ? MICROSECOND
              WHERE id = 1 AND (lease_until IS NULL OR lease_until < NOW(3));
            SELECT term FROM event_relay WHERE id = 1 AND leader = ?`,
      values: [holder, leaseMicros, holder],
    });
    if (taken.affectedRows !== 1 || !rows[0]) return false;
    term = Number(rows[0]['term']);
    validUntil = sentAt + settings.leaseMs;
    renewedAt = sentAt;
    return true;
  }

  async function renew(): Promise<boolean> {
    const sentAt = now();
    const [result] = await pool.query<ResultSetHeader>({
      sql: `UPDATE event_relay SET lease_until = NOW(3) + INTERVAL ? MICROSECOND
            WHERE id = 1 AND leader = ? AND term = ?`,
      values: [leaseMicros, holder, term],
      timeout: STATEMENT_TIMEOUT_MS,
    });
    if (result.affectedRows !== 1) {
      lose();
      return false;
    }
    validUntil = sentAt + settings.leaseMs;
    renewedAt = sentAt;
    return true;
  }

  return {
    async lead() {
      if (!isLeader()) {
        lose();
        return take();
      }
      if (now() - renewedAt < settings.renewEveryMs) return true;
      return renew();
    },

    isLeader,

    async position() {
      const [rows] = await pool.query<RowDataPacket[]>({
        sql: 'SELECT published_through FROM event_relay WHERE id = 1',
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return Number(rows[0]?.['published_through'] ?? 0);
    },

    async readAfter(position, limit) {
      const [rows] = await pool.query<EventRow[]>({
        sql: `SELECT ${EVENT_COLUMNS}
              FROM event_history e JOIN subscription s ON s.id = e.subscription_id
              WHERE e.id > ? ORDER BY e.id LIMIT ?`,
        values: [position, limit],
        timeout: STATEMENT_TIMEOUT_MS,
      });
      return rows.map((row) => ({
        event: toCloudEvent(row),
        position: Number(row.id),
        requestId: row.request_id,
        traceContext: readTraceContext(row.trace_context),
      }));
    },

    async advance(position, at) {
      const [update, rows] = await updateThenRead(pool, {
        sql: `UPDATE event_relay SET published_through = GREATEST(published_through, ?),
                updated_at = ? WHERE id = 1 AND leader = ? AND term = ?;
              SELECT published_through FROM event_relay WHERE id = 1`,
        values: [position, at, holder, term],
      });
      if (update.affectedRows !== 1) {
        lose();
        throw new LeaseLostError(holder);
      }
      return Number(rows[0]?.['published_through'] ?? position);
    },

    async release() {
      if (term === undefined) return;
      const held = term;
      lose();
      await pool.query({
        sql: `UPDATE event_relay SET leader = NULL, lease_until = NULL
              WHERE id = 1 AND leader = ? AND term = ?`,
        values: [holder, held],
        timeout: STATEMENT_TIMEOUT_MS,
      });
    },
  };
}
