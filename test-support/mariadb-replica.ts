import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { Cleanup } from './cleanup';
import type { MysqlServer } from './database';
import { findFreePort } from './ports';
import {
  createPrivateMariadb,
  installDataDirectory,
  type PrivateMariadb,
  startWatchdog,
} from './private-mariadb';

const REPLICATION_USER = 'replicator';
const REPLICATION_PASSWORD = 'replica-test-only';

/** A primary with its binary log on, and a read-only replica that follows it by GTID. */
export interface ReplicatedPair {
  primary: PrivateMariadb;
  replica: PrivateMariadb;
  /** Resolves once the replica has applied everything the primary has committed so far. */
  waitForReplica(timeoutMs?: number): Promise<void>;
  /** Kills both servers and removes their data. Safe to call twice. */
  remove(): Promise<void>;
}

export interface ReplicatedPairOptions {
  /** Gets the removal before anything is made, so a run cut short still removes the servers. */
  cleanup?: Cleanup;
}

/**
 * Starts a MariaDB primary and a replica on this machine, never touching the machine's own
 * server. The system my.cnf forces the system user and data directory, hence `--no-defaults`.
 * A watchdog removes both if the test process dies without its afterAll (Ctrl-C, a kill).
 */
export async function startReplicatedPair(
  options: ReplicatedPairOptions = {},
): Promise<ReplicatedPair> {
  const baseDir = await mkdtemp(path.join(tmpdir(), 'mariadb-replica-'));
  const servers: PrivateMariadb[] = [];
  const watchdog = startWatchdog(baseDir);
  let removed: Promise<void> | undefined;
  const remove = () => {
    removed ??= (async () => {
      await Promise.all(servers.map((server) => server.kill()));
      await rm(baseDir, { recursive: true, force: true });
      watchdog.kill('SIGKILL');
    })();
    return removed;
  };
  options.cleanup?.add(`remove MariaDB pair in ${baseDir}`, remove);

  try {
    const primaryDir = path.join(baseDir, 'primary');
    const replicaDir = path.join(baseDir, 'replica');
    await installDataDirectory(primaryDir);
    // A copy of a data directory never started is as good as a second install, and faster.
    await cp(primaryDir, replicaDir, { recursive: true });

    const [primaryPort, replicaPort] = await Promise.all([findFreePort(), findFreePort()]);
    const primary = createServer('primary', primaryDir, primaryPort, [
      '--server-id=1',
      '--log-bin=binlog',
      '--binlog-format=ROW',
    ]);
    const replica = createServer('replica', replicaDir, replicaPort, [
      '--server-id=2',
      '--relay-log=relay',
      // Only the replication threads (and accounts with SUPER, such as root) may write.
      '--read-only=1',
    ]);
    servers.push(primary, replica);
    await Promise.all([primary.start(), replica.start()]);
    await followPrimary(primary, replica);
    return {
      primary,
      replica,
      waitForReplica: (timeoutMs = 10_000) => waitForReplica(primary, replica, timeoutMs),
      remove,
    };
  } catch (error) {
    if (!options.cleanup) await remove().catch(() => undefined);
    throw error;
  }
}

/** Small and quick: a test's data fits, and a restart recovers in well under a second. */
function createServer(name: string, dataDir: string, port: number, role: string[]): PrivateMariadb {
  return createPrivateMariadb({
    name,
    dataDir,
    port,
    settings: ['--innodb-buffer-pool-size=64M', '--innodb-flush-log-at-trx-commit=2', ...role],
  });
}

async function withConnection<T>(
  server: MysqlServer,
  work: (connection: mysql.Connection) => Promise<T>,
): Promise<T> {
  const connection = await mysql.createConnection(server);
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/** Replicates from the start of the primary's binary log, so the replica gets every change. */
async function followPrimary(primary: PrivateMariadb, replica: PrivateMariadb): Promise<void> {
  const source = primary.server;
  await withConnection(source, async (connection) => {
    await connection.query('CREATE USER ?@? IDENTIFIED BY ?', [
      REPLICATION_USER,
      source.host,
      REPLICATION_PASSWORD,
    ]);
    await connection.query('GRANT REPLICATION SLAVE ON *.* TO ?@?', [
      REPLICATION_USER,
      source.host,
    ]);
  });
  await withConnection(replica.server, async (connection) => {
    // A retry every second (default 60) so that the replica reconnects quickly after a restart.
    await connection.query(
      `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ${Number(source.port)}, MASTER_USER = ?,
         MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
      [source.host, REPLICATION_USER, REPLICATION_PASSWORD],
    );
    await connection.query('START SLAVE');
  });
  await waitForReplica(primary, replica, 10_000);
}

async function waitForReplica(
  primary: PrivateMariadb,
  replica: PrivateMariadb,
  timeoutMs: number,
): Promise<void> {
  const position = await withConnection(primary.server, async (connection) => {
    const [[row]] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT @@gtid_binlog_pos AS position',
    );
    return String(row?.['position'] ?? '');
  });
  const reached = await withConnection(replica.server, async (connection) => {
    const [[row]] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT MASTER_GTID_WAIT(?, ?) AS outcome',
      [position, timeoutMs / 1_000],
    );
    return Number(row?.['outcome']);
  });
  if (reached !== 0) {
    throw new Error(`the replica did not reach the primary's ${position} within ${timeoutMs} ms`);
  }
}
