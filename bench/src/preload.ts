import mysql from 'mysql2/promise';
import type { MysqlServer } from '../../test-support/database';
import type { IdRange } from './options';

/** Rows made per statement: large enough to be quick, small enough for any packet or undo size. */
const CHUNK = 50_000;

interface PreloadCounts {
  subscriptions: number;
  events: number;
  records: number;
}

/**
 * Fills a scratch database as months of use would: `subscriptions` subscriptions spread over
 * the users, a third of them canceled (two events) and the rest active (one), each with the
 * record of its purchase command within the retention, and `expiredRecords` command records
 * accepted before the retention began, which the purge is there to remove. Runs on the server
 * (INSERT ... SELECT from a table of numbers), not through the API: millions of rows in minutes.
 */
export async function preloadDatabase(
  target: { server: MysqlServer; name: string },
  options: {
    subscriptions: number;
    users: IdRange;
    expiredRecords: number;
    retentionMs: number;
    log: (line: string) => void;
  },
): Promise<PreloadCounts> {
  const connection = await mysql.createConnection({
    ...target.server,
    database: target.name,
    timezone: 'Z',
    multipleStatements: true,
  });
  try {
    await connection.query(
      `CREATE TEMPORARY TABLE preload_number (n INT UNSIGNED NOT NULL PRIMARY KEY) ENGINE = InnoDB`,
    );
    for (let done = 0; done < CHUNK; done += 5_000) {
      const numbers = Array.from({ length: 5_000 }, (_, index) => [done + index]);
      await connection.query('INSERT INTO preload_number (n) VALUES ?', [numbers]);
    }
    const users = options.users.last - options.users.first + 1;
    const started = Date.now();
    for (let done = 0; done < options.subscriptions; done += CHUNK) {
      const count = Math.min(CHUNK, options.subscriptions - done);
      await preloadChunk(connection, {
        offset: done,
        count,
        users,
        firstUser: options.users.first,
        // Purchase records accepted over the last 20 hours, in id order: within the retention, and
        // all before the records the load adds.
        recordsFrom: Date.now() - 20 * 3_600_000,
        recordStepMs: Math.max(1, Math.floor((20 * 3_600_000) / (options.subscriptions * 1.5))),
      });
      if ((done / CHUNK) % 10 === 0) {
        options.log(`preload: ${done + count} of ${options.subscriptions} subscriptions`);
      }
    }
    const acceptedLongAgo = Date.now() - options.retentionMs - 3_600_000;
    for (let done = 0; done < options.expiredRecords; done += CHUNK) {
      const count = Math.min(CHUNK, options.expiredRecords - done);
      await connection.query(
        `INSERT INTO command_record (accepted_at, id_hash, refusal, completed_at)
         SELECT ? + n, UNHEX(LEFT(SHA2(CONCAT('expired:', ? + n), 256), 16)),
                '{"code":"user_not_found","message":"preloaded"}', FROM_UNIXTIME((? + n) / 1000)
         FROM preload_number WHERE n < ?`,
        [acceptedLongAgo - options.expiredRecords + done, done, acceptedLongAgo, count],
      );
    }
    // Months of use: these events went out long ago; the relay goes on after them.
    await connection.query(
      `UPDATE event_relay SET published_through = (SELECT COALESCE(MAX(id), 0) FROM event_history)
       WHERE id = 1`,
    );
    options.log(`preload: done in ${Math.round((Date.now() - started) / 1000)} s`);
    const [[counts]] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM subscription) AS subscriptions,
              (SELECT COUNT(*) FROM event_history) AS events,
              (SELECT COUNT(*) FROM command_record) AS records`,
    );
    return {
      subscriptions: Number(counts?.['subscriptions']),
      events: Number(counts?.['events']),
      records: Number(counts?.['records']),
    };
  } finally {
    await connection.end();
  }
}

/**
 * `count` subscriptions (every third canceled), their events and their purchase records, in one
 * transaction. The events take the commit lock, as the consumer's do, so that the relay and the
 * feed see them in order.
 */
async function preloadChunk(
  connection: mysql.Connection,
  chunk: {
    offset: number;
    count: number;
    users: number;
    firstUser: number;
    recordsFrom: number;
    recordStepMs: number;
  },
): Promise<void> {
  const { offset, count, users, firstUser, recordsFrom, recordStepMs } = chunk;
  // Creation times spread over the last 90 days, oldest first, as the ids are.
  const spreadMs = 90 * 86_400_000;
  const now = Date.now();
  await connection.query(
    `START TRANSACTION;
     INSERT INTO subscription (user_id, status_id, created_at, updated_at, version)
       SELECT ? + ((? + n) * 7919) % ?, IF((? + n) % 3 = 0, 2, 1),
              FROM_UNIXTIME((? + n * ?) / 1000),
              IF((? + n) % 3 = 0, FROM_UNIXTIME((? + n * ? + 60000) / 1000), NULL),
              IF((? + n) % 3 = 0, 1, 0)
       FROM preload_number WHERE n < ? ORDER BY n;
     SET @first_subscription := LAST_INSERT_ID();
     SELECT id FROM event_commit_lock WHERE id = 1 FOR UPDATE;
     INSERT INTO event_history (subscription_id, type, version, created_at)
       SELECT id, 'SUBSCRIPTION_PURCHASED', 0, created_at FROM subscription
       WHERE id >= @first_subscription ORDER BY id;
     INSERT INTO event_history (subscription_id, type, version, created_at)
       SELECT id, 'SUBSCRIPTION_CANCELED', 1, updated_at FROM subscription
       WHERE id >= @first_subscription AND status_id = 2 ORDER BY id;
     INSERT INTO command_record (accepted_at, id_hash, event_id, completed_at)
       SELECT ? + e.id * ?, UNHEX(LEFT(SHA2(CONCAT('preload:', e.id), 256), 16)), e.id, e.created_at
       FROM event_history e WHERE e.subscription_id >= @first_subscription
         AND e.type = 'SUBSCRIPTION_PURCHASED';
     COMMIT`,
    [
      firstUser,
      offset,
      users,
      offset,
      now - spreadMs + offset * 1000,
      1000,
      offset,
      now - spreadMs + offset * 1000,
      1000,
      offset,
      count,
      recordsFrom,
      recordStepMs,
    ],
  );
}
