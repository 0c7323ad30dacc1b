import mysql from 'mysql2/promise';
import type { Cleanup } from '../../test-support/cleanup';
import { createTestDatabase, type MysqlServer } from '../../test-support/database';
import type { IdRange } from './options';
import { mysqlTarget, reaching } from './service-access';

interface ScratchDatabase {
  name: string;
  userIds: IdRange;
  /** `SELECT VERSION()`, for the record of where the figures come from. */
  serverVersion: string;
}

/** A migrated database `bench_<random>` holding `users` users; dropped by `cleanup`. */
export async function createScratchDatabase(
  server: MysqlServer,
  users: number,
  cleanup: Cleanup,
): Promise<ScratchDatabase> {
  // A server that is not there is named before anything is made, or left to drop.
  await reaching(mysqlTarget(server), async () => (await mysql.createConnection(server)).end());
  const database = await createTestDatabase({ prefix: 'bench_', server, cleanup });
  await insertUsers(database.pool, users);
  const [rows] = await database.pool.query<mysql.RowDataPacket[]>(
    'SELECT MIN(id) AS first, MAX(id) AS last, VERSION() AS version FROM `user`',
  );
  const row = rows[0];
  return {
    name: database.name,
    userIds: { first: Number(row?.['first']), last: Number(row?.['last']) },
    serverVersion: String(row?.['version']),
  };
}

async function insertUsers(pool: mysql.Pool, count: number): Promise<void> {
  // In slices, so a large --users stays under max_allowed_packet.
  for (let done = 0; done < count; done += 5_000) {
    const names = Array.from({ length: Math.min(5_000, count - done) }, (_, index) => [
      `Bench user ${done + index + 1}`,
    ]);
    await pool.query('INSERT INTO `user` (full_name) VALUES ?', [names]);
  }
}
