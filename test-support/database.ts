import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { migrate } from '../consumer/src/db/migrate';

/** The machine's MySQL/MariaDB, as the test run's environment names it. */
export const mysqlServer = {
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
  drop(): Promise<void>;
}

/** A freshly migrated database of its own, so test files never share rows. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await migrate({ ...mysqlServer, database: name });
  const pool = mysql.createPool({
    ...mysqlServer,
    database: name,
    timezone: 'Z',
    connectionLimit: 4,
  });
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
    async drop() {
      await pool.end();
      const connection = await mysql.createConnection(mysqlServer);
      try {
        await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
      } finally {
        await connection.end();
      }
    },
  };
}
