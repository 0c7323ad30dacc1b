import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { Cleanup } from './cleanup';
import type { MysqlServer } from './database';
import { findFreePort } from './ports';

const run = promisify(execFile);

const START_TIMEOUT_MS = 20_000;
const REPLICATION_USER = 'replicator';
const REPLICATION_PASSWORD = 'replica-test-only';

/** A MariaDB server of the test's own: its data directory in a temporary folder, its own port. */
export interface PrivateMariadb {
  readonly name: 'primary' | 'replica';
  /** Where to connect: 127.0.0.1, its port, root with no password. */
  readonly server: MysqlServer;
  readonly dataDir: string;
  /** SIGKILL, as a crash or a lost machine would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same data directory and port; resolves once it answers. */
  start(): Promise<void>;
}

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

async function installDataDirectory(dataDir: string): Promise<void> {
  try {
    await run('mariadb-install-db', [
      '--no-defaults',
      '--user=root',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ]);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    throw new Error(
      'mariadb-install-db is not on PATH: the replica test runs MariaDB server binaries of ' +
        'this machine (Debian: apt-get install mariadb-server)',
      { cause: error },
    );
  }
}

function createServer(
  name: PrivateMariadb['name'],
  dataDir: string,
  port: number,
  roleArguments: string[],
): PrivateMariadb {
  const args = [
    '--no-defaults',
    '--user=root',
    `--datadir=${dataDir}`,
    `--port=${port}`,
    `--socket=${path.join(dataDir, 'sock')}`,
    `--pid-file=${path.join(dataDir, 'pid')}`,
    `--log-error=${path.join(dataDir, 'error.log')}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    // Small and quick: a test's data fits, and a restart recovers in well under a second.
    '--innodb-buffer-pool-size=64M',
    '--innodb-flush-log-at-trx-commit=2',
    ...roleArguments,
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const server: PrivateMariadb = {
    name,
    server: { host: '127.0.0.1', port, user: 'root', password: '' },
    dataDir,
    async start() {
      if (child) throw new Error(`the ${name} is already running`);
      const started = spawn('mariadbd', args, { stdio: 'ignore' });
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      void exited.then(() => {
        if (child === started) child = undefined;
      });
      await waitUntilAnswering(server, exited);
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
  };
  return server;
}

/** Polls until the server takes a connection; fails with its error log if it exits or stalls. */
async function waitUntilAnswering(mariadb: PrivateMariadb, exited: Promise<void>): Promise<void> {
  const { server, name, dataDir } = mariadb;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const connection = await mysql.createConnection({ ...server, connectTimeout: 1_000 });
      await connection.end();
      return;
    } catch (error) {
      if (gone || Date.now() > deadline) {
        const log = await readFile(path.join(dataDir, 'error.log'), 'utf8').catch(() => '');
        const reason = gone ? 'exited' : `did not answer within ${START_TIMEOUT_MS} ms`;
        throw new Error(
          `the private MariaDB ${name} on port ${server.port} ${reason} (${String(error)})\n` +
            log.split('\n').slice(-20).join('\n'),
          { cause: error },
        );
      }
      await sleep(50);
    }
  }
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

/**
 * A detached shell that outlives this process: once it is gone, the shell kills each server
 * still running from `baseDir` (checked against its command line) and removes the folder.
 */
function startWatchdog(baseDir: string): ChildProcess {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    for pidfile in "$2"/*/pid; do
      pid=$(cat "$pidfile" 2>/dev/null) || continue
      tr '\\0' ' ' < /proc/"$pid"/cmdline 2>/dev/null | grep -qF -- "--datadir=$2/" && kill -9 "$pid"
    done
    sleep 1
    rm -rf -- "$2"`;
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), baseDir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}
