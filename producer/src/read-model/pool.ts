import type { PoolConnection as DriverConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';

export interface ReadPoolOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  connectionLimit: number;
}

/**
 * The producer's own pool for reads. Every session is read-only, so the read side can move to
 * a replica (point MYSQL_HOST at it) without any code change, and can never write by mistake.
 */
export function createReadPool(options: ReadPoolOptions): Pool {
  const pool = mysql.createPool({
    ...options,
    timezone: 'Z',
    supportBigNumbers: true,
    // Short, so that with the read server (a replica, say) gone a GET answers 503 within about
    // two seconds instead of holding the request: a refused port fails at once anyway.
    connectTimeout: 2_000,
    enableKeepAlive: true,
    charset: 'utf8mb4_unicode_ci',
  });
  // The event hands over the driver's callback connection, whatever the promise pool's types
  // say: its `query` returns a command, not a promise (`.catch` on it throws). Left without a
  // callback on purpose: if a SET fails, the driver fails the connection and the caller's
  // query queued behind it gets the SET's error, so no session reads without these settings.
  pool.pool.on('connection', (connection: DriverConnection) => {
    connection.query("SET SESSION time_zone = '+00:00'");
    connection.query('SET SESSION TRANSACTION READ ONLY');
  });
  return pool;
}
