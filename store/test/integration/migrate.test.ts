import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { mysqlServer } from '../../../test-support/database';
import { migrate, MYSQL_INIT_DIR } from '../../src/migrate';

/**
 * The files as databases met them when each was new: 002 and 003 created tables that 005
 * replaced, and a database migrated back then has those tables and their rows.
 */
const RELEASED_DIR = path.join(__dirname, '../fixtures/released-migrations');

/** A directory holding the files up to `last`, each as it was released. */
async function releasedUpTo(last: string): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'mysql-init-'));
  const released = new Set(await readdir(RELEASED_DIR));
  for (const file of (await readdir(MYSQL_INIT_DIR)).filter((name) => name <= last)) {
    const from = released.has(file) ? RELEASED_DIR : MYSQL_INIT_DIR;
    await copyFile(path.join(from, file), path.join(directory, file));
  }
  return directory;
}

/** A database of its own, dropped after the test. */
async function scratchDatabase(purpose: string) {
  const name = `t_${purpose}_${process.pid}_${Date.now().toString(36)}`;
  const pool = mysql.createPool({
    ...mysqlServer,
    database: name,
    connectionLimit: 2,
    timezone: 'Z',
  });
  return {
    name,
    pool,
    async drop() {
      await pool.end();
      const connection = await mysql.createConnection(mysqlServer);
      await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
      await connection.end();
    },
  };
}

async function tablesOf(pool: mysql.Pool): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name',
  );
  return rows.map((row) => String(row['name']));
}

/** Every table's columns, indexes and foreign keys, as the server describes them. */
async function schemaOf(pool: mysql.Pool): Promise<unknown> {
  const [columns] = await pool.query<RowDataPacket[]>(
    `SELECT table_name, column_name, ordinal_position, column_type, is_nullable, column_default,
            extra, character_set_name, collation_name
       FROM information_schema.columns WHERE table_schema = DATABASE()
       ORDER BY table_name, ordinal_position`,
  );
  const [indexes] = await pool.query<RowDataPacket[]>(
    `SELECT table_name, index_name, seq_in_index, column_name, non_unique
       FROM information_schema.statistics WHERE table_schema = DATABASE()
       ORDER BY table_name, index_name, seq_in_index`,
  );
  const [keys] = await pool.query<RowDataPacket[]>(
    `SELECT table_name, constraint_name, column_name, referenced_table_name, referenced_column_name
       FROM information_schema.key_column_usage
       WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL
       ORDER BY table_name, constraint_name, ordinal_position`,
  );
  return { columns, indexes, keys };
}

describe('a new database', () => {
  it('creates only the tables it keeps, file after file', async () => {
    const database = await scratchDatabase('new');
    const directories: string[] = [];
    try {
      const seen = new Set<string>();
      for (const file of (await readdir(MYSQL_INIT_DIR)).filter((name) => name.endsWith('.sql'))) {
        const upTo = await mkdtemp(path.join(tmpdir(), 'mysql-init-'));
        directories.push(upTo);
        for (const earlier of (await readdir(MYSQL_INIT_DIR)).filter((name) => name <= file)) {
          await copyFile(path.join(MYSQL_INIT_DIR, earlier), path.join(upTo, earlier));
        }
        await migrate({ ...mysqlServer, database: database.name, directory: upTo });
        for (const table of await tablesOf(database.pool)) seen.add(table);
      }
      expect([...seen].sort()).toEqual(await tablesOf(database.pool));
    } finally {
      await database.drop();
      await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
    }
  });
});

describe('upgrading a database made at an earlier step, with data in it', () => {
  let newDatabase: Awaited<ReturnType<typeof scratchDatabase>>;
  let newSchema: unknown;
  const files = async () => (await readdir(MYSQL_INIT_DIR)).filter((name) => name.endsWith('.sql'));

  beforeAll(async () => {
    newDatabase = await scratchDatabase('schema');
    await migrate({ ...mysqlServer, database: newDatabase.name });
    newSchema = await schemaOf(newDatabase.pool);
  });

  afterAll(async () => {
    await newDatabase?.drop();
  });

  it.each([
    '001-schema.sql',
    '002-processed-command.sql',
    '003-command-outcome.sql',
    '004-events.sql',
    '005-command-record.sql',
    '006-cluster-safe-leases.sql',
  ])('from %s, keeps its rows and ends with the schema of a new database', async (last) => {
    const database = await scratchDatabase(last.slice(0, 3));
    const released = await releasedUpTo(last);
    try {
      await migrate({ ...mysqlServer, database: database.name, directory: released });
      const { pool } = database;
      const [user] = await pool.query<mysql.ResultSetHeader>(
        "INSERT INTO `user` (full_name) VALUES ('Upgraded')",
      );
      const now = new Date();
      const subscription = async (statusId: number) => {
        const [result] = await pool.query<mysql.ResultSetHeader>(
          'INSERT INTO subscription (user_id, status_id, created_at) VALUES (?, ?, ?)',
          [user.insertId, statusId, now],
        );
        return result.insertId;
      };
      const [bought, other] = [await subscription(2), await subscription(1)];
      // Two subscriptions' histories interleaved: each is numbered on its own.
      for (const [id, type, version] of [
        [bought, 'SUBSCRIPTION_PURCHASED', 0],
        [other, 'SUBSCRIPTION_PURCHASED', 0],
        [bought, 'SUBSCRIPTION_CANCELED', 1],
      ] as const) {
        // From 004 on, the consumer writes each event's version itself.
        await pool.query(
          last >= '004'
            ? 'INSERT INTO event_history (subscription_id, type, created_at, version) VALUES (?, ?, ?, ?)'
            : 'INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, ?, ?)',
          [id, type, now, version],
        );
      }
      // 005 replaced the tables of 002 and 003 (and dropped them where they were).
      if (last >= '002' && last < '005') {
        await pool.query(
          `INSERT INTO processed_command (command_key, request_hash, reply, created_at)
             VALUES (REPEAT('a', 64), REPEAT('b', 64), '{}', ?)`,
          [now],
        );
      }
      if (last >= '003' && last < '005') {
        await pool.query(
          "INSERT INTO command_outcome (command_id, reply, completed_at) VALUES ('c-1', '{}', ?)",
          [now],
        );
      }

      const applied = await migrate({ ...mysqlServer, database: database.name });

      expect(applied).toEqual((await files()).filter((name) => name > last));
      const [recorded] = await pool.query<RowDataPacket[]>(
        'SELECT name FROM schema_migration ORDER BY name',
      );
      expect(recorded.map((row) => row['name'])).toEqual(await files());
      expect(await schemaOf(pool)).toEqual(newSchema);
      const readEvents = async () => {
        const [rows] = await pool.query<RowDataPacket[]>(
          `SELECT e.id, e.subscription_id, e.type, e.version, s.status_id FROM event_history e
               JOIN subscription s ON s.id = e.subscription_id
               WHERE s.user_id = ? ORDER BY e.id`,
          [user.insertId],
        );
        return rows;
      };
      const events = await readEvents();
      expect(
        events.map((row) => [
          Number(row['subscription_id']),
          row['type'],
          row['version'],
          row['status_id'],
        ]),
      ).toEqual([
        [bought, 'SUBSCRIPTION_PURCHASED', 0, 2],
        [other, 'SUBSCRIPTION_PURCHASED', 0, 1],
        [bought, 'SUBSCRIPTION_CANCELED', 1, 2],
      ]);
      // The relay starts after the history 004 finds; events written since then it publishes.
      const [[relay]] = await pool.query<RowDataPacket[]>(
        'SELECT published_through FROM event_relay WHERE id = 1',
      );
      expect(Number(relay?.['published_through'])).toBe(
        last < '004' ? Number(events.at(-1)?.['id']) : 0,
      );

      // Applying the files again, as the MySQL image's first boot may have, changes nothing.
      await pool.query('DELETE FROM schema_migration');
      await migrate({ ...mysqlServer, database: database.name });
      expect(await readEvents()).toEqual(events);
      expect(await schemaOf(pool)).toEqual(newSchema);
    } finally {
      await database.drop();
      await rm(released, { recursive: true, force: true });
    }
  });
});
