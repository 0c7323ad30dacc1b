import { performance } from 'node:perf_hooks';
import { CLOUD_EVENT_TYPES, type CloudEvent, type EventType } from '@subscriptions/contracts';
import { subscribeToEvents } from '@subscriptions/tools';
import amqp, { type MessageProperties } from 'amqplib';
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** An event as a subscriber received it: its body checked against the contract, and when. */
export interface ReceivedEvent {
  event: CloudEvent;
  routingKey: string;
  properties: MessageProperties;
  /** `performance.now()` on arrival. */
  receivedAt: number;
}

/**
 * A subscriber of the test's own, as another service would be: an exclusive queue bound to
 * every event of the vhost's events exchange, on a connection straight to the broker. It
 * collects what arrives; a body that is not a valid CloudEvent fails the test that waits.
 */
export interface EventSubscriber {
  readonly received: readonly ReceivedEvent[];
  /** Bodies that were not a CloudEvent of the contract: why, with the body quoted. */
  readonly invalid: readonly string[];
  /** Resolves once `count` events have arrived; fails naming how many did after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  /**
   * Resolves once an event with each of these ids has arrived, however many copies came with
   * them; fails naming how many are missing after `timeoutMs`.
   */
  waitForIds(ids: readonly string[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function openEventSubscriber(amqpUrl: string): Promise<EventSubscriber> {
  const connection = await amqp.connect(amqpUrl);
  const received: ReceivedEvent[] = [];
  const invalid: string[] = [];
  const waiters = new Set<() => void>();
  await subscribeToEvents({
    model: connection,
    patterns: ['#'],
    onEvent: ({ event, routingKey, properties }) => {
      received.push({ event, routingKey, properties, receivedAt: performance.now() });
      for (const waiter of waiters) waiter();
    },
    onRefused: ({ reason }) => invalid.push(reason),
  });
  /** Resolves once `done` holds, checked at each arrival. */
  function arrival(done: () => boolean, failure: () => string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(failure()));
      }, timeoutMs);
      function check(): void {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      }
      waiters.add(check);
    });
  }
  return {
    received,
    invalid,
    waitFor(count, timeoutMs) {
      return arrival(
        () => received.length >= count,
        () => `${received.length} of ${count} events within ${timeoutMs} ms`,
        timeoutMs,
      );
    },
    waitForIds(ids, timeoutMs) {
      const missing = () => {
        const seen = new Set(received.map(({ event }) => event.id));
        return ids.filter((id) => !seen.has(id));
      };
      return arrival(
        () => missing().length === 0,
        () => `${missing().length} of ${ids.length} events missing after ${timeoutMs} ms`,
        timeoutMs,
      );
    },
    close: () => connection.close(),
  };
}

/** How far the relay has published: every event up to this id is confirmed by the broker. */
export async function readRelayPosition(pool: Pool): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT published_through FROM event_relay WHERE id = 1',
  );
  return Number(rows[0]?.['published_through'] ?? 0);
}

/** One `event_history` row, as the audit of the events compares it. */
export interface HistoryRow {
  id: number;
  subscriptionId: number;
  type: EventType;
}

/** Every event of the test database, in id order. */
export async function readHistory(pool: Pool): Promise<HistoryRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT id, subscription_id, type FROM event_history ORDER BY id',
  );
  return rows.map((row) => ({
    id: Number(row['id']),
    subscriptionId: Number(row['subscription_id']),
    type: row['type'] as EventType,
  }));
}

/**
 * What is wrong between the history and the events a subscriber received, as readable lines
 * (empty when they agree): every row has its event, with its id, subscription and type; no
 * event names a row that does not exist; each subscription's events first arrived in the order
 * of its rows, with versions 0, 1, 2, ... Copies of one event (the same id, at least once) are
 * allowed and counted.
 */
export function auditEvents(
  history: readonly HistoryRow[],
  received: readonly ReceivedEvent[],
): { problems: string[]; duplicates: number } {
  const problems: string[] = [];
  const rows = new Map(history.map((row) => [String(row.id), row]));
  const firstSeen = new Map<string, CloudEvent>();
  let duplicates = 0;
  for (const { event, routingKey, properties } of received) {
    const row = rows.get(event.id);
    if (!row) {
      problems.push(`event ${event.id} has no history row`);
      continue;
    }
    if (firstSeen.has(event.id)) {
      duplicates += 1;
      if (JSON.stringify(firstSeen.get(event.id)) !== JSON.stringify(event)) {
        problems.push(`event ${event.id} came twice with different bodies`);
      }
      continue;
    }
    firstSeen.set(event.id, event);
    if (
      event.subject !== String(row.subscriptionId) ||
      event.type !== CLOUD_EVENT_TYPES[row.type] ||
      routingKey !== event.type ||
      properties.messageId !== event.id
    ) {
      problems.push(`event ${event.id} does not match its row: ${JSON.stringify(event)}`);
    }
  }
  for (const row of history) {
    if (!firstSeen.has(String(row.id))) problems.push(`row ${row.id} (${row.type}) has no event`);
  }
  const orderBySubscription = new Map<string, number[]>();
  for (const event of firstSeen.values()) {
    const ids = orderBySubscription.get(event.subject) ?? [];
    ids.push(Number(event.id));
    orderBySubscription.set(event.subject, ids);
  }
  for (const [subject, ids] of orderBySubscription) {
    const sorted = [...ids].sort((a, b) => a - b);
    if (ids.join() !== sorted.join()) {
      problems.push(`subscription ${subject}: events arrived as ${ids.join(', ')}`);
    }
    // Each change counts one version on from the purchase's 0.
    const versions = sorted.map((id) => firstSeen.get(String(id))?.data.version);
    if (versions.some((version, index) => version !== index)) {
      problems.push(`subscription ${subject}: versions ${versions.join(', ')}`);
    }
  }
  return { problems, duplicates };
}
