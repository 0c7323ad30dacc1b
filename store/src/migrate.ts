import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import mysql from 'mysql2/promise';

/** The numbered `.sql` files at the repository root: one schema for Docker, local runs and tests. */
export const MYSQL_INIT_DIR = path.resolve(__dirname, '../../mysql-init');

export interface MigrateOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  directory?: string;
}

/**
 * Creates the database if missing and applies each file of `mysql-init/` not yet recorded in
 * `schema_migration`. The files are idempotent themselves, so a database first built by the
 * MySQL image's init scripts can be migrated too. Returns the names of the files applied.
 */
export async function migrate(options: MigrateOptions): Promise<string[]> {
  const { database, directory = MYSQL_INIT_DIR, ...server } = options;
  const connection = await mysql.createConnection({ ...server, multipleStatements: true });
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    await connection.query(`USE ${mysql.escapeId(database)}`);
    // Two migrators at once (a deploy and a test run) take turns rather than race.
    await connection.query("SELECT GET_LOCK('subscriptions.migrate', 60)");
    try {
      await connection.query(
        `CREATE TABLE IF NOT EXISTS schema_migration (
           name VARCHAR(255) NOT NULL PRIMARY KEY,
           applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
         ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`,
      );
      const [rows] = await connection.query<mysql.RowDataPacket[]>(
        'SELECT name FROM schema_migration',
      );
      const applied = new Set(rows.map((row) => String(row['name'])));
      const files = (await readdir(directory)).filter((name) => name.endsWith('.sql')).sort();
      const appliedNow: string[] = [];
      for (const file of files) {
        if (applied.has(file)) continue;
        await connection.query(await readFile(path.join(directory, file), 'utf8'));
        await connection.query('INSERT INTO schema_migration (name) VALUES (?)', [file]);
        appliedNow.push(file);
      }
      return appliedNow;
    } finally {
      await connection.query("SELECT RELEASE_LOCK('subscriptions.migrate')");
    }
  } finally {
    await connection.end();
  }
}
