import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { mysqlServer } from '../../../test-support/database';
import { migrate, MYSQL_INIT_DIR } from '../../src/migrate';

/** The files of mysql-init/ before events were published (up to 003). */
const BEFORE_EVENTS = (name: string) => name < '004';

describe('migrating a database made before events were published', () => {
  const database = `t_migrate_${process.pid}_${Date.now().toString(36)}`;
  let earlier: string;
  let pool: mysql.Pool;

  beforeAll(async () => {
    earlier = await mkdtemp(path.join(tmpdir(), 'mysql-init-'));
    for (const file of (await readdir(MYSQL_INIT_DIR)).filter(BEFORE_EVENTS)) {
      await copyFile(path.join(MYSQL_INIT_DIR, file), path.join(earlier, file));
    }
    await migrate({ ...mysqlServer, database, directory: earlier });
    pool = mysql.createPool({ ...mysqlServer, database, connectionLimit: 2, timezone: 'Z' });
  });

  afterAll(async () => {
    await pool?.end();
    const connection = await mysql.createConnection(mysqlServer);
    await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database)}`);
    await connection.end();
    await rm(earlier, { recursive: true, force: true });
  });

  it('numbers the versions of the history it finds, and starts the relay after it', async () => {
    const now = new Date();
    const subscription = async () => {
      const [result] = await pool.query<mysql.ResultSetHeader>(
        'INSERT INTO subscription (user_id, status_id, created_at) VALUES (1, 1, ?)',
        [now],
      );
      return result.insertId;
    };
    const [first, second] = [await subscription(), await subscription()];
    for (const [id, type] of [
      [first, 'SUBSCRIPTION_PURCHASED'],
      [second, 'SUBSCRIPTION_PURCHASED'],
      [first, 'SUBSCRIPTION_CANCELED'],
      [first, 'SUBSCRIPTION_RESTARTED'],
    ] as const) {
      await pool.query(
        'INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, ?, ?)',
        [id, type, now],
      );
    }

    expect(await migrate({ ...mysqlServer, database })).toEqual(
      (await readdir(MYSQL_INIT_DIR)).filter(
        (name) => name.endsWith('.sql') && !BEFORE_EVENTS(name),
      ),
    );
    const [events] = await pool.query<RowDataPacket[]>(
      'SELECT id, subscription_id, version, request_id FROM event_history ORDER BY id',
    );
    expect(events.map((row) => [Number(row['subscription_id']), row['version']])).toEqual([
      [first, 0],
      [second, 0],
      [first, 1],
      [first, 2],
    ]);
    const [[relay]] = await pool.query<RowDataPacket[]>(
      'SELECT published_through FROM event_relay WHERE id = 1',
    );
    expect(Number(relay?.['published_through'])).toBe(Number(events.at(-1)?.['id']));
    // Applying the files again, as the MySQL image's first boot may have, changes nothing.
    const connection = await mysql.createConnection({
      ...mysqlServer,
      database,
      multipleStatements: true,
    });
    try {
      await connection.query('DELETE FROM schema_migration');
    } finally {
      await connection.end();
    }
    await migrate({ ...mysqlServer, database });
    const [again] = await pool.query<RowDataPacket[]>(
      'SELECT id, subscription_id, version, request_id FROM event_history ORDER BY id',
    );
    expect(again).toEqual(events);
  });
});
