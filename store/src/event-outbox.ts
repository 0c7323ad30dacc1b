import { createHash } from 'node:crypto';
import type { CloudEvent } from '@subscriptions/contracts';
import { EVENT_COLUMNS, type EventRow, toCloudEvent } from './event-rows';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

/** Milliseconds any one statement of the relay may take. */
const STATEMENT_TIMEOUT_MS = 5_000;

/** An event waiting to be published, and the request it came from. */
export interface OutboxEvent {
  event: CloudEvent;
  /** Its history row's id: the relay's position once it is published. */
  position: number;
  requestId: string | null;
}

/**
 * The relay's side of the database: the history, read in id order from the relay's position, and
 * that position. One relay per database works at a time: `lead()` takes a named lock on a
 * connection of its own, and every read and write goes through that connection, so a relay
 * whose connection died (and with it the lock) can do no more work and must lead again.
 */
export interface EventOutbox {
  /** Tries to become this database's relay; resolves whether it is. */
  lead(): Promise<boolean>;
  /** Whether it still holds the lead (a failed statement on its connection gives it up). */
  isLeader(): boolean;
  /** How far the relay has published: every event up to this id is confirmed. */
  position(): Promise<number>;
  /** Up to `limit` events after `position`, oldest first. */
  readAfter(position: number, limit: number): Promise<OutboxEvent[]>;
  /**
   * Records that everything up to `position` is published; resolves the recorded position, which
   * is further when an operator moved it on (to skip the events of a bulk import, say).
   */
  advance(position: number, now: Date): Promise<number>;
  /** Gives up leading: closes the connection, and with it the lock. */
  release(): void;
}

/**
 * The lock's name, server-wide, so it names the database: relays of other databases on the same
 * server (tests, staging) do not wait for each other. MySQL allows 64 characters.
 */
export function relayLockName(database: string): string {
  const name = `event_relay:${database}`;
  return name.length <= 64
    ? name
    : `event_relay:${createHash('sha256').update(database).digest('hex').slice(0, 52)}`;
}

export function createEventOutbox(pool: Pool, database: string): EventOutbox {
  const lockName = relayLockName(database);
  let leader: PoolConnection | undefined;

  /** Runs on the leader's connection; a failure there ends leading. */
  async function onLeader<T>(work: (connection: PoolConnection) => Promise<T>): Promise<T> {
    if (!leader) throw new Error('not the event relay');
    try {
      return await work(leader);
    } catch (error) {
      release();
      throw error;
    }
  }

  function release(): void {
    // Destroyed, not released to the pool: the lock must go with the session.
    leader?.destroy();
    leader = undefined;
  }

  return {
    async lead() {
      if (leader) return true;
      const connection = await pool.getConnection();
      try {
        const [rows] = await connection.query<RowDataPacket[]>({
          sql: 'SELECT GET_LOCK(?, 0) AS locked',
          values: [lockName],
          timeout: STATEMENT_TIMEOUT_MS,
        });
        if (Number(rows[0]?.['locked']) === 1) {
          leader = connection;
          return true;
        }
      } catch (error) {
        connection.destroy();
        throw error;
      }
      connection.release();
      return false;
    },

    isLeader: () => leader !== undefined,

    position: () =>
      onLeader(async (connection) => {
        const [rows] = await connection.query<RowDataPacket[]>({
          sql: 'SELECT published_through FROM event_relay WHERE id = 1',
          timeout: STATEMENT_TIMEOUT_MS,
        });
        return Number(rows[0]?.['published_through'] ?? 0);
      }),

    readAfter: (position, limit) =>
      onLeader(async (connection) => {
        const [rows] = await connection.query<EventRow[]>({
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
        }));
      }),

    advance: (position, now) =>
      onLeader(async (connection) => {
        const [results] = await connection.query<RowDataPacket[][]>({
          sql: `UPDATE event_relay SET published_through = GREATEST(published_through, ?),
                  updated_at = ? WHERE id = 1;
                SELECT published_through FROM event_relay WHERE id = 1`,
          values: [position, now],
          timeout: STATEMENT_TIMEOUT_MS,
        });
        // Two statements, two results: the update's header, then the row read after it.
        const rows = results[1] ?? [];
        return Number(rows[0]?.['published_through'] ?? position);
      }),

    release,
  };
}
