import { randomBytes } from 'node:crypto';
import { migrate } from '@subscriptions/store';
import mysql from 'mysql2/promise';
import type { Cleanup } from './cleanup';

export interface MysqlServer {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The machine's MySQL/MariaDB, as the test run's environment names it. */
export const mysqlServer: MysqlServer = {
  host: process.env['MYSQL_HOST'] || '127.0.0.1',
  port: Number(process.env['MYSQL_PORT'] || 3306),
  user: process.env['MYSQL_USER'] || 'root',
  password: process.env['MYSQL_PASSWORD'] || '',
};

export interface TestDatabase {
  name: string;
  /** A pool on the test database, for arranging rows and checking outcomes. */
  pool: mysql.Pool;
  /** Inserts a user and returns its id. */
  createUser(fullName?: string): Promise<number>;
  /** Closes the pool and drops the database. Safe to call twice. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Starts the random name: `t_` (the default) for test files, `bench_` for the bench. */
  prefix?: string;
  /** The server; the test run's own when unset. */
  server?: MysqlServer;
  /** Gets the drop before anything is made, so a run cut short still removes the database. */
  cleanup?: Cleanup;
}

/** A freshly migrated database of its own, so test files never share rows. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const { prefix = 't_', server = mysqlServer, cleanup } = options;
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  // Connections open on first use, so the pool can exist before the database does.
  const pool = mysql.createPool({ ...server, database: name, timezone: 'Z', connectionLimit: 4 });
  let dropped: Promise<void> | undefined;
  const drop = () => {
    dropped ??= (async () => {
      await pool.end();
      await dropDatabase(server, name);
    })();
    return dropped;
  };
  cleanup?.add(`drop database ${name}`, drop);
  try {
    await migrate({ ...server, database: name });
  } catch (error) {
    // A migration that fails half way leaves a database behind.
    if (!cleanup) await drop().catch(() => undefined);
    throw error;
  }
  return {
    name,
    pool,
    async createUser(fullName = 'Test User') {
      const [result] = await pool.execute<mysql.ResultSetHeader>(
        'INSERT INTO `user` (full_name) VALUES (?)',
        [fullName],
      );
      return result.insertId;
    },
    drop,
  };
}

async function dropDatabase(server: MysqlServer, name: string): Promise<void> {
  const connection = await mysql.createConnection(server);
  try {
    await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
  } finally {
    await connection.end();
  }
}
