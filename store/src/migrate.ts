import { randomUUID } from 'node:crypto';
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
    // Two migrators at once (a deploy and a test run, two nodes of a cluster) take turns
    // rather than race.
    const release = await takeMigrationLock(connection, { ...server, database });
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
      await release();
    }
  } finally {
    await connection.end();
  }
}

/** How long the migration lock holds without renewal: a migrator that died frees it then. */
const LOCK_LEASE_SECONDS = 60;
const LOCK_RENEW_MS = 15_000;
const LOCK_POLL_MS = 250;
/** How long a migrator waits for another one before it gives up. */
const LOCK_WAIT_MS = 5 * 60_000;

/**
 * Takes the migration lock, a lease in a row of `schema_migration_lock`, and keeps it renewed
 * until the returned release is called. A row, not GET_LOCK: a named lock lives on one server,
 * so on a cluster two migrators on two nodes would both get it. A migrator that dies leaves the
 * lease to run out; a second one waits for the first, then finds nothing left to apply.
 */
async function takeMigrationLock(
  connection: mysql.Connection,
  server: Omit<MigrateOptions, 'directory'>,
): Promise<() => Promise<void>> {
  await connection.query(
    `CREATE TABLE IF NOT EXISTS schema_migration_lock (
       id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
       holder VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       lease_until DATETIME(3) NOT NULL
     ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`,
  );
  const holder = randomUUID();
  const take = async () => {
    // Free: the insert takes it. Held by a migrator that stopped renewing: the update does.
    const [inserted] = await connection.query<mysql.ResultSetHeader>(
      `INSERT IGNORE INTO schema_migration_lock (id, holder, lease_until)
       VALUES (1, ?, NOW(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND)`,
      [holder],
    );
    if (inserted.affectedRows === 1) return true;
    const [updated] = await connection.query<mysql.ResultSetHeader>(
      `UPDATE schema_migration_lock SET holder = ?,
         lease_until = NOW(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND
       WHERE id = 1 AND lease_until < NOW(3)`,
      [holder],
    );
    return updated.affectedRows === 1;
  };
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (!(await take().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`another migration held the lock for more than ${LOCK_WAIT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  // Renewed from its own connection: the migrator's may be busy with a long statement.
  const renewer = await mysql.createConnection(server);
  const renewal = setInterval(() => {
    void renewer
      .query(
        `UPDATE schema_migration_lock
         SET lease_until = NOW(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND
         WHERE id = 1 AND holder = ?`,
        [holder],
      )
      .catch(() => undefined);
  }, LOCK_RENEW_MS);
  return async () => {
    clearInterval(renewal);
    await renewer.end().catch(() => undefined);
    await connection.query('DELETE FROM schema_migration_lock WHERE id = 1 AND holder = ?', [
      holder,
    ]);
  };
}
