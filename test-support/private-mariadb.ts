import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { MysqlServer } from './database';

const run = promisify(execFile);

const START_TIMEOUT_MS = 20_000;

/**
 * The system account the server runs as: root by default; `mysql` where the server starts helpers
 * that refuse root (a Galera node's state transfer).
 */
export type ServerUser = 'root' | 'mysql';

/** A MariaDB server of the caller's own: its data directory, its own port, root without password. */
export interface PrivateMariadb {
  readonly name: string;
  /** Where to connect: 127.0.0.1, its port, root with no password. */
  readonly server: MysqlServer;
  readonly dataDir: string;
  /** The server's process id while it runs. */
  pid(): number | undefined;
  /** SIGKILL, as a crash or a lost machine would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the server holds its connections and answers nothing, as a hung machine would. */
  freeze(): void;
  /** SIGCONT after `freeze()`. */
  resume(): void;
  /**
   * Starts the server (again) on its data directory and port; resolves once it answers. `args`
   * are added for this start only (a Galera node's `--wsrep-new-cluster`).
   */
  start(options?: { args?: readonly string[] }): Promise<void>;
}

/**
 * Makes a fresh data directory. The system my.cnf forces the system user and data directory,
 * hence `--no-defaults`, here and for the server.
 */
export async function installDataDirectory(
  dataDir: string,
  user: ServerUser = 'root',
): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  if (user !== 'root') await run('chown', [`${user}:${user}`, dataDir]);
  try {
    await run('mariadb-install-db', [
      '--no-defaults',
      `--user=${user}`,
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ]);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    throw new Error(
      'mariadb-install-db is not on PATH: this runs MariaDB server binaries of this machine ' +
        '(Debian: apt-get install mariadb-server)',
      { cause: error },
    );
  }
}

/**
 * A `mariadbd` on `dataDir` (installed already) and `port`, listening on 127.0.0.1 only, with
 * `settings` as further server options (`--innodb-buffer-pool-size=64M`, ...). Nothing of the
 * machine's own server is touched.
 */
export function createPrivateMariadb(options: {
  name: string;
  dataDir: string;
  port: number;
  settings: readonly string[];
  user?: ServerUser;
  /** An option file to read instead of none (`--defaults-file`); `settings` come after it. */
  defaultsFile?: string;
  /** How long a start may take before it fails (20 s unless given). */
  startTimeoutMs?: number;
}): PrivateMariadb {
  const {
    name,
    dataDir,
    port,
    settings,
    user = 'root',
    defaultsFile,
    startTimeoutMs = START_TIMEOUT_MS,
  } = options;
  const args = [
    defaultsFile ? `--defaults-file=${defaultsFile}` : '--no-defaults',
    `--user=${user}`,
    `--datadir=${dataDir}`,
    `--port=${port}`,
    `--socket=${path.join(dataDir, 'sock')}`,
    `--pid-file=${path.join(dataDir, 'pid')}`,
    `--log-error=${path.join(dataDir, 'error.log')}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    ...settings,
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const mariadb: PrivateMariadb = {
    name,
    server: { host: '127.0.0.1', port, user: 'root', password: '' },
    dataDir,
    pid: () => child?.pid,
    async start(startOptions = {}) {
      if (child) throw new Error(`the ${name} is already running`);
      const started = spawn('mariadbd', [...args, ...(startOptions.args ?? [])], {
        stdio: 'ignore',
      });
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      void exited.then(() => {
        if (child === started) child = undefined;
      });
      await waitUntilAnswering(mariadb, exited, startTimeoutMs);
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
  return mariadb;
}

/** Polls until the server takes a connection; fails with its error log if it exits or stalls. */
async function waitUntilAnswering(
  mariadb: PrivateMariadb,
  exited: Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const { server, name, dataDir } = mariadb;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await mysql.createConnection({ ...server, connectTimeout: 1_000 });
      await connection.end();
      return;
    } catch (error) {
      if (gone || Date.now() > deadline) {
        const log = await readFile(path.join(dataDir, 'error.log'), 'utf8').catch(() => '');
        const reason = gone ? 'exited' : `did not answer within ${timeoutMs} ms`;
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

/**
 * A detached shell that outlives this process: once it is gone, the shell kills every process
 * still running from under `baseDir` (servers, their state-transfer helpers, a proxy: any whose
 * command line names a path in it) and removes the folder.
 */
export function startWatchdog(baseDir: string): ChildProcess {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    pkill -CONT -f -- "$2/"
    pkill -KILL -f -- "$2/"
    sleep 1
    rm -rf -- "$2"`;
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), baseDir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}
