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
    connectTimeout: 5_000,
    enableKeepAlive: true,
    charset: 'utf8mb4_unicode_ci',
  });
  pool.on('connection', (connection) => {
    connection.query("SET SESSION time_zone = '+00:00'");
    connection.query('SET SESSION TRANSACTION READ ONLY');
  });
  return pool;
}
