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

/** The MYSQL_* variables, as each process's config reads them. */
export interface MysqlSettings {
  MYSQL_HOST: string;
  MYSQL_PORT: number;
  MYSQL_USER: string;
  MYSQL_PASSWORD: string;
  MYSQL_DATABASE: string;
}

/** Where the database is and whom to log in as, from the MYSQL_* settings. */
export function databaseAddress(settings: MysqlSettings): Omit<DatabaseOptions, 'connectionLimit'> {
  return {
    host: settings.MYSQL_HOST,
    port: settings.MYSQL_PORT,
    user: settings.MYSQL_USER,
    password: settings.MYSQL_PASSWORD,
    database: settings.MYSQL_DATABASE,
  };
}

/** Seconds a statement may wait for a row lock: well inside any command deadline. */
const LOCK_WAIT_TIMEOUT_SECONDS = 5;

/**
 * Causal reads on a MariaDB Galera cluster: a read waits until its node has applied every
 * transaction the cluster committed before it, so a session that lands on another node after a
 * failover still sees every command record and event already committed. The `/*M!` comment is
 * executed by MariaDB alone (MySQL reads a comment), and the setting does nothing where Galera
 * is off.
 */
const CAUSAL_READS_ON_GALERA = '/*M!100400 , SESSION wsrep_sync_wait = 1 */';

/**
 * The driver captures the caller's stack for every query (`trace`), to put it on the error of
 * the few that fail: a tenth of the consumer's driver time per command. Our errors are told
 * apart by their codes (database-errors.ts) and logged with the driver's own stack and message.
 */
const QUERY_STACKS = { trace: false } as const;

/** The consumer's pool: it writes, a transaction a round trip at a time. */
export function createDatabasePool(options: DatabaseOptions): Pool {
  const pool = mysql.createPool({
    ...options,
    ...QUERY_STACKS,
    // DATETIME columns hold UTC; read and write them as UTC whatever the server's zone.
    timezone: 'Z',
    supportBigNumbers: true,
    connectTimeout: 5_000,
    enableKeepAlive: true,
    charset: 'utf8mb4_unicode_ci',
    // On one server a transaction's statements travel packed, several to a round trip; on a
    // Galera node one at a time (transaction.ts). Every value goes through the driver's
    // escaping; no statement is pieced together from input.
    multipleStatements: true,
  });
  // The event hands over the driver's callback connection, whatever the promise pool's types
  // say: its `query` returns a command, not a promise (`.catch` on it throws). Left without a
  // callback on purpose: if the SET fails, the driver fails the connection and the caller's
  // query queued behind it gets the SET's error, so no session runs without these settings.
  pool.pool.on('connection', (connection: DriverConnection) => {
    connection.query(
      `SET SESSION time_zone = '+00:00', SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_TIMEOUT_SECONDS} ${CAUSAL_READS_ON_GALERA}`,
    );
  });
  return pool;
}

/**
 * The producer's own pool for reads. Every session is read-only, so the read side can move to
 * a replica (point MYSQL_HOST at it) without any code change, and can never write by mistake.
 */
export function createReadPool(options: DatabaseOptions): Pool {
  const pool = mysql.createPool({
    ...options,
    ...QUERY_STACKS,
    timezone: 'Z',
    supportBigNumbers: true,
    // Short, so that with the read server (a replica, say) gone a GET answers 503 within about
    // two seconds instead of holding the request: a refused port fails at once anyway.
    connectTimeout: 2_000,
    enableKeepAlive: true,
    charset: 'utf8mb4_unicode_ci',
  });
  // As above: the callback connection, and no callback so that a failed SET fails the session.
  pool.pool.on('connection', (connection: DriverConnection) => {
    connection.query(`SET SESSION time_zone = '+00:00' ${CAUSAL_READS_ON_GALERA}`);
    connection.query('SET SESSION TRANSACTION READ ONLY');
  });
  return pool;
}
