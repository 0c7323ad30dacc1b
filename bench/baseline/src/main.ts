import type { Server } from 'node:http';
import mysql from 'mysql2/promise';
import { createBaselineApp } from './app';

/** Started by the bench with its settings in the environment; not meant to be run by hand. */
function main(): void {
  const env = process.env;
  const pool = mysql.createPool({
    host: env['MYSQL_HOST'],
    port: Number(env['MYSQL_PORT']),
    user: env['MYSQL_USER'],
    password: env['MYSQL_PASSWORD'],
    database: env['MYSQL_DATABASE'],
    // Sized by --baseline-pool; set up like the consumer's pool.
    connectionLimit: Number(env['POOL_SIZE']),
    timezone: 'Z',
    charset: 'utf8mb4_unicode_ci',
  });
  const server: Server = createBaselineApp(pool).listen(Number(env['PORT']), '127.0.0.1');
  server.on('error', (error) => {
    console.error('baseline: cannot listen:', error.message);
    process.exit(1);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => void pool.end().then(() => process.exit(0)));
    server.closeIdleConnections();
    // Keep-alive clients that outlive the run do not hold the exit up for long.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The bench went away without stopping us (killed): do not linger.
  process.on('disconnect', stop);
}

main();
