import type { Pool, RowDataPacket } from 'mysql2/promise';

/** How many subscriptions and events the database holds: unchanged after a refused request. */
export async function countRows(pool: Pool): Promise<{ subscriptions: number; events: number }> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM subscription) AS subscriptions,
            (SELECT COUNT(*) FROM event_history) AS events`,
  );
  return { subscriptions: Number(rows[0]?.['subscriptions']), events: Number(rows[0]?.['events']) };
}

/** The stored subscription, its status read through the `status` table; undefined when absent. */
export async function findSubscriptionRow(
  pool: Pool,
  id: number,
): Promise<{ user_id: number; status: string } | undefined> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    `SELECT s.user_id, st.status_name AS status
     FROM subscription s JOIN status st ON st.id = s.status_id
     WHERE s.id = ?`,
    [id],
  );
  const row = rows[0];
  return row && { user_id: Number(row['user_id']), status: String(row['status']) };
}

/** The event types of one subscription, oldest first. */
export async function listEventTypes(pool: Pool, subscriptionId: number): Promise<string[]> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT type FROM event_history WHERE subscription_id = ? ORDER BY id',
    [subscriptionId],
  );
  return rows.map((row) => String(row['type']));
}

/** Ids of a user's subscriptions, oldest first. */
export async function listSubscriptionIds(pool: Pool, userId: number): Promise<number[]> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT id FROM subscription WHERE user_id = ? ORDER BY id',
    [userId],
  );
  return rows.map((row) => Number(row['id']));
}
