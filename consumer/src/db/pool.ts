import type { PoolConnection as DriverConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';

export interface DatabaseOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  connectionLimit: number;
}

/** Seconds a statement may wait for a row lock: well inside any command deadline. */
const LOCK_WAIT_TIMEOUT_SECONDS = 5;

export function createDatabasePool(options: DatabaseOptions): Pool {
  const pool = mysql.createPool({
    ...options,
    // DATETIME columns hold UTC; read and write them as UTC whatever the server's zone.
    timezone: 'Z',
    supportBigNumbers: true,
    connectTimeout: 5_000,
    enableKeepAlive: true,
    charset: 'utf8mb4_unicode_ci',
    // A transaction sends its statements a round trip at a time (db/transaction.ts). Every
    // value goes through the driver's escaping; no statement is pieced together from input.
    multipleStatements: true,
  });
  // The event hands over the driver's callback connection, whatever the promise pool's types
  // say: its `query` returns a command, not a promise (`.catch` on it throws). Left without a
  // callback on purpose: if the SET fails, the driver fails the connection and the caller's
  // query queued behind it gets the SET's error, so no session runs without these settings.
  pool.pool.on('connection', (connection: DriverConnection) => {
    connection.query(
      `SET SESSION time_zone = '+00:00', SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_TIMEOUT_SECONDS}`,
    );
  });
  return pool;
}
