import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/** One committed subscription with its history, as the fault tests audit it. */
export interface LedgerEntry {
  id: number;
  userId: number;
  status: string;
  /** Applied status changes, by the row's own counter. */
  version: number;
  /** Event types, oldest first. */
  events: string[];
}

/** Every subscription of the test database with its events. */
export async function readLedger(pool: Pool): Promise<Map<number, LedgerEntry>> {
  const [subscriptions] = await pool.query<RowDataPacket[]>(
    `SELECT s.id, s.user_id, st.status_name AS status, s.version
     FROM subscription s JOIN status st ON st.id = s.status_id ORDER BY s.id`,
  );
  const [events] = await pool.query<RowDataPacket[]>(
    'SELECT subscription_id, type FROM event_history ORDER BY id',
  );
  const ledger = new Map<number, LedgerEntry>();
  for (const row of subscriptions) {
    const id = Number(row['id']);
    ledger.set(id, {
      id,
      userId: Number(row['user_id']),
      status: String(row['status']),
      version: Number(row['version']),
      events: [],
    });
  }
  const orphans: number[] = [];
  for (const row of events) {
    const entry = ledger.get(Number(row['subscription_id']));
    if (entry) entry.events.push(String(row['type']));
    else orphans.push(Number(row['subscription_id']));
  }
  if (orphans.length > 0) throw new Error(`events of missing subscriptions: ${orphans.join(', ')}`);
  return ledger;
}

/**
 * What is wrong with the history of each subscription, as readable lines (empty when all is
 * well): one purchase event first, then exactly one event per applied change (cancel, restart,
 * cancel, ...), as many as the row's version counts, ending on the row's current status.
 */
export function findLedgerInconsistencies(ledger: Map<number, LedgerEntry>): string[] {
  const problems: string[] = [];
  for (const entry of ledger.values()) {
    const expected = ['SUBSCRIPTION_PURCHASED'];
    for (let change = 1; change <= entry.version; change += 1) {
      expected.push(change % 2 === 1 ? 'SUBSCRIPTION_CANCELED' : 'SUBSCRIPTION_RESTARTED');
    }
    const status = entry.version % 2 === 1 ? 'CANCELED' : 'ACTIVE';
    if (entry.events.join() !== expected.join() || entry.status !== status) {
      problems.push(
        `subscription ${entry.id}: status ${entry.status}, version ${entry.version}, ` +
          `events [${entry.events.join(', ')}]`,
      );
    }
  }
  return problems;
}

/** Subscriptions per user. */
export function countByUser(ledger: Map<number, LedgerEntry>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { userId } of ledger.values()) counts.set(userId, (counts.get(userId) ?? 0) + 1);
  return counts;
}

/** Inserts `count` users in one statement and returns their ids. */
export async function createUsers(pool: Pool, count: number, label: string): Promise<number[]> {
  const names = Array.from({ length: count }, (_, index) => `${label} ${index}`);
  const [result] = await pool.query<ResultSetHeader>('INSERT INTO `user` (full_name) VALUES ?', [
    names.map((name) => [name]),
  ]);
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT id, full_name FROM `user` WHERE id >= ? ORDER BY id',
    [result.insertId],
  );
  const ids = new Map(rows.map((row) => [String(row['full_name']), Number(row['id'])]));
  return names.map((name) => {
    const id = ids.get(name);
    if (id === undefined) throw new Error(`user "${name}" was not created`);
    return id;
  });
}
