import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { migrate } from '../../consumer/dist/db/migrate';
import type { Cleanup } from './cleanup';
import type { IdRange, MysqlServer } from './options';
import { mysqlTarget, reaching } from './service-access';

export interface ScratchDatabase {
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
  const name = `bench_${randomBytes(6).toString('hex')}`;
  // A server that is not there is named before anything is made, or left to drop.
  await reaching(mysqlTarget(server), async () => (await mysql.createConnection(server)).end());
  // Registered before the migration: a migration that fails half way still leaves a database behind.
  cleanup.add(`drop database ${name}`, () => dropDatabase(server, name));
  await migrate({ ...server, database: name });
  const connection = await mysql.createConnection({ ...server, database: name });
  try {
    await insertUsers(connection, users);
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT MIN(id) AS first, MAX(id) AS last, VERSION() AS version FROM `user`',
    );
    const row = rows[0];
    return {
      name,
      userIds: { first: Number(row?.['first']), last: Number(row?.['last']) },
      serverVersion: String(row?.['version']),
    };
  } finally {
    await connection.end();
  }
}

async function insertUsers(connection: mysql.Connection, count: number): Promise<void> {
  // In slices, so a large --users stays under max_allowed_packet.
  for (let done = 0; done < count; done += 5_000) {
    const names = Array.from({ length: Math.min(5_000, count - done) }, (_, index) => [
      `Bench user ${done + index + 1}`,
    ]);
    await connection.query('INSERT INTO `user` (full_name) VALUES ?', [names]);
  }
}

async function dropDatabase(server: MysqlServer, name: string): Promise<void> {
  const connection = await mysql.createConnection(server);
  try {
    await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
  } finally {
    await connection.end();
  }
}
