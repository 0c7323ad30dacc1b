import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { MysqlServer } from '../database';
import { canInstallDebianPackages, installDebianPackages } from '../debian-packages';
import { findFreePort } from '../ports';
import {
  createPrivateMariadb,
  installDataDirectory,
  type PrivateMariadb,
  startWatchdog,
} from '../private-mariadb';

const run = promisify(execFile);

const ROOT = path.resolve(__dirname, '../..');
/** The shipped node settings and proxy, as a deployment runs them. */
const GALERA_CNF = path.join(ROOT, 'deploy/galera/galera.cnf');
const HAPROXY_CFG = path.join(ROOT, 'deploy/galera/haproxy.cfg');
const CHECK_SCRIPT = path.join(ROOT, 'deploy/galera/galera-check.sh');
/** The account HAProxy's check connects as (deploy/galera/galera-check.sh). */
const CHECK_USER = 'haproxy_check';

/** A joiner's first state transfer copies a whole data directory: give it time on a busy machine. */
const JOIN_TIMEOUT_MS = 90_000;
const STATUS_TIMEOUT_MS = 2_000;

export const NODE_NUMBERS = [1, 2, 3] as const;
export type NodeNumber = (typeof NODE_NUMBERS)[number];

/** What a node says of itself (`SHOW GLOBAL STATUS LIKE 'wsrep%'`). */
export interface NodeStatus {
  /** `Synced`, `Donor/Desynced`, `Joining`, `Initialized`, ... */
  state: string;
  /** `Primary` or `non-Primary`. */
  clusterStatus: string;
  clusterSize: number;
  /** The view it is in: grows by one at each membership change. */
  viewId: number;
  ready: boolean;
}

export interface GaleraNode {
  readonly number: NodeNumber;
  readonly name: string;
  /** The node itself, bypassing the proxy: root, no password. */
  readonly server: MysqlServer;
  readonly mariadb: PrivateMariadb;
}

export interface GaleraCluster {
  readonly baseDir: string;
  readonly nodes: readonly GaleraNode[];
  /** HAProxy in front of the nodes (deploy/galera/haproxy.cfg): where the services connect. */
  readonly endpoint: MysqlServer;
  node(number: NodeNumber): GaleraNode;
  /** SIGKILL of the node's server, as a crash; resolves once it is gone. */
  kill(number: NodeNumber): Promise<void>;
  /** Starts a killed node on its data; resolves once it takes connections (it may still join). */
  start(number: NodeNumber): Promise<void>;
  /** SIGSTOP of the node's server: it holds every connection and answers nothing. */
  freeze(number: NodeNumber): void;
  resume(number: NodeNumber): void;
  /** The node's own view of itself, or undefined when it does not answer in time. */
  status(number: NodeNumber): Promise<NodeStatus | undefined>;
  /** Resolves once these nodes are Synced in one primary component of exactly them. */
  waitUntilSynced(numbers: readonly NodeNumber[], timeoutMs?: number): Promise<void>;
  /** The node HAProxy sends connections to now, from its stick table. */
  writer(): Promise<NodeNumber | undefined>;
  /** Kills every process and removes the folder. Safe to call twice. */
  teardown(): Promise<void>;
}

/** `GALERA_LOGS_DIR=<dir>` keeps each node's error log there when the cluster is torn down. */
const KEEP_LOGS_IN = process.env['GALERA_LOGS_DIR'];

async function keepLogs(directory: string, nodes: readonly GaleraNode[]): Promise<void> {
  await mkdir(directory, { recursive: true });
  await Promise.all(
    nodes.map((node) =>
      copyFile(
        path.join(node.mariadb.dataDir, 'error.log'),
        path.join(directory, `${node.name}.log`),
      ).catch(() => undefined),
    ),
  );
}

/** The failure-detection options the shipped configuration gives every node. */
async function shippedProviderOptions(): Promise<string> {
  const text = await readFile(GALERA_CNF, 'utf8');
  const match = /^wsrep_provider_options\s*=\s*"([^"]*)"/m.exec(text);
  if (!match?.[1]) throw new Error(`${GALERA_CNF} sets no wsrep_provider_options`);
  return match[1];
}

interface NodePorts {
  sql: number;
  group: number;
  ist: number;
  sst: number;
}

async function allocatePorts(): Promise<NodePorts> {
  return {
    sql: await findFreePort(),
    group: await findFreePort(),
    ist: await findFreePort(),
    sst: await findFreePort(),
  };
}

async function query<T extends mysql.RowDataPacket[]>(
  server: MysqlServer,
  sql: string,
): Promise<T> {
  const connection = await mysql.createConnection({ ...server, connectTimeout: STATUS_TIMEOUT_MS });
  try {
    const [rows] = await connection.query<T>({ sql, timeout: STATUS_TIMEOUT_MS });
    return rows;
  } finally {
    connection.destroy();
  }
}

async function readStatus(server: MysqlServer): Promise<NodeStatus | undefined> {
  try {
    const rows = await query<mysql.RowDataPacket[]>(server, "SHOW GLOBAL STATUS LIKE 'wsrep%'");
    const value = (name: string) =>
      String(rows.find((row) => row['Variable_name'] === name)?.['Value'] ?? '');
    return {
      state: value('wsrep_local_state_comment'),
      clusterStatus: value('wsrep_cluster_status'),
      clusterSize: Number(value('wsrep_cluster_size')),
      viewId: Number(value('wsrep_cluster_conf_id')),
      ready: value('wsrep_ready') === 'ON',
    };
  } catch {
    return undefined;
  }
}

/** One command on HAProxy's admin socket; resolves its whole answer. */
function askProxy(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.end(`${command}\n`);
  });
}

/**
 * Boots a private three-node MariaDB Galera cluster on this machine's loopback, on ports of its
 * own, with the shipped node settings (deploy/galera/galera.cnf), and HAProxy before it with the
 * shipped proxy configuration and health check. The nodes run as the `mysql` user (the state
 * transfer refuses root). Node 1 bootstraps, 2 and 3 join it. A watchdog kills every process and
 * removes the folder if the test process dies first.
 */
export async function startGaleraCluster(): Promise<GaleraCluster> {
  const baseDir = await mkdtemp(path.join(tmpdir(), 'galera-cluster-'));
  // The nodes run as mysql, which must reach their data directories.
  await chmod(baseDir, 0o755);
  const watchdog = startWatchdog(baseDir);
  const ports = new Map<NodeNumber, NodePorts>();
  for (const number of NODE_NUMBERS) ports.set(number, await allocatePorts());
  const portsOf = (number: NodeNumber) => ports.get(number) as NodePorts;
  const proxyPort = await findFreePort();
  const clusterAddress = `gcomm://${NODE_NUMBERS.map((n) => `127.0.0.1:${portsOf(n).group}`).join(',')}`;
  const providerOptions = await shippedProviderOptions();
  const nodes: GaleraNode[] = [];
  let proxy: ChildProcess | undefined;
  let tornDown: Promise<void> | undefined;

  const teardown = () => {
    tornDown ??= (async () => {
      proxy?.kill('SIGKILL');
      for (const node of nodes) node.mariadb.resume();
      await Promise.all(nodes.map((node) => node.mariadb.kill()));
      if (KEEP_LOGS_IN) await keepLogs(KEEP_LOGS_IN, nodes);
      await rm(baseDir, { recursive: true, force: true });
      watchdog.kill('SIGKILL');
    })();
    return tornDown;
  };

  const optionFileOf = (number: NodeNumber) => path.join(baseDir, `node${number}.cnf`);
  const node = (number: NodeNumber) => {
    const found = nodes.find((candidate) => candidate.number === number);
    if (!found) throw new Error(`no node ${number}`);
    return found;
  };

  try {
    for (const number of NODE_NUMBERS) {
      const { sql, group, ist, sst } = portsOf(number);
      const dataDir = path.join(baseDir, `node${number}`);
      await installDataDirectory(dataDir, 'mysql');
      const optionFile = optionFileOf(number);
      // The shipped settings, then this node's name and addresses; its own provider options
      // (where it listens) are added to the shipped ones, which the later line would replace.
      await writeFile(
        optionFile,
        [
          `!include ${GALERA_CNF}`,
          '[mariadbd]',
          `wsrep_node_name = node${number}`,
          `wsrep_node_address = 127.0.0.1:${group}`,
          `wsrep_node_incoming_address = 127.0.0.1:${sql}`,
          `wsrep_cluster_address = ${clusterAddress}`,
          `wsrep_sst_receive_address = 127.0.0.1:${sst}`,
          `wsrep_provider_options = "${providerOptions}; gmcast.listen_addr=tcp://127.0.0.1:${group}; ist.recv_addr=127.0.0.1:${ist}; gcache.size=64M"`,
          'innodb_buffer_pool_size = 64M',
          'innodb_flush_log_at_trx_commit = 2',
          '',
        ].join('\n'),
      );
      const mariadb = createPrivateMariadb({
        name: `Galera node${number}`,
        dataDir,
        port: sql,
        user: 'mysql',
        defaultsFile: optionFile,
        settings: [],
        startTimeoutMs: JOIN_TIMEOUT_MS,
      });
      nodes.push({
        number,
        name: `node${number}`,
        server: { host: '127.0.0.1', port: sql, user: 'root', password: '' },
        mariadb,
      });
    }

    await node(1).mariadb.start({ args: ['--wsrep-new-cluster'] });
    for (const host of ['localhost', '127.0.0.1']) {
      await query(node(1).server, `CREATE USER '${CHECK_USER}'@'${host}'`);
    }
    await Promise.all([node(2).mariadb.start(), node(3).mariadb.start()]);

    const socketPath = path.join(baseDir, 'haproxy.sock');
    const cluster: GaleraCluster = {
      baseDir,
      nodes,
      endpoint: { host: '127.0.0.1', port: proxyPort, user: 'root', password: '' },
      node,
      kill: (number) => node(number).mariadb.kill(),
      async start(number) {
        const position = await recoverPosition(node(number), optionFileOf(number));
        await node(number).mariadb.start({ args: [`--wsrep-start-position=${position}`] });
      },
      freeze: (number) => node(number).mariadb.freeze(),
      resume: (number) => node(number).mariadb.resume(),
      status: (number) => readStatus(node(number).server),
      async waitUntilSynced(numbers, timeoutMs = JOIN_TIMEOUT_MS) {
        const deadline = performance.now() + timeoutMs;
        for (;;) {
          const seen = await Promise.all(numbers.map((number) => readStatus(node(number).server)));
          const views = new Set(seen.map((status) => status?.viewId));
          const synced = seen.every(
            (status) =>
              status?.state === 'Synced' &&
              status.clusterStatus === 'Primary' &&
              status.ready &&
              status.clusterSize === numbers.length,
          );
          if (synced && views.size === 1) return;
          if (performance.now() > deadline) {
            throw new Error(
              `nodes ${numbers.join(', ')} not synced within ${timeoutMs} ms: ${JSON.stringify(seen)}`,
            );
          }
          await sleep(250);
        }
      },
      async writer() {
        const table = await askProxy(socketPath, 'show table galera').catch(() => '');
        const id = /server_id=(\d+)/.exec(table)?.[1];
        return id === undefined ? undefined : (Number(id) as NodeNumber);
      },
      teardown,
    };
    await cluster.waitUntilSynced(NODE_NUMBERS);

    proxy = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], {
      stdio: 'ignore',
      env: {
        PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/bin',
        GALERA_PROXY_BIND: `127.0.0.1:${proxyPort}`,
        GALERA_PROXY_STATS_SOCKET: socketPath,
        GALERA_CHECK: CHECK_SCRIPT,
        GALERA_NODE1: `127.0.0.1:${portsOf(1).sql}`,
        GALERA_NODE2: `127.0.0.1:${portsOf(2).sql}`,
        GALERA_NODE3: `127.0.0.1:${portsOf(3).sql}`,
      },
    });
    await waitForProxy(cluster);
    return cluster;
  } catch (error) {
    await teardown().catch(() => undefined);
    throw error;
  }
}

/**
 * The last transaction a stopped node committed, read from its data as the packaged service does
 * before every start (`galera_recovery`): a node that crashed knows no position of its own, and
 * without one it asks for a whole state transfer, which blocks its donor; with one it catches up
 * from a peer's cache (IST), which blocks nobody.
 */
async function recoverPosition(node: GaleraNode, optionFile: string): Promise<string> {
  const { dataDir } = node.mariadb;
  const log = path.join(dataDir, 'recover.log');
  await rm(log, { force: true });
  await run('mariadbd', [
    `--defaults-file=${optionFile}`,
    '--user=mysql',
    `--datadir=${dataDir}`,
    `--log-error=${log}`,
    `--socket=${path.join(dataDir, 'recover.sock')}`,
    '--skip-networking',
    '--wsrep-recover',
  ]).catch(() => undefined);
  const text = await readFile(log, 'utf8');
  const position = /WSREP: Recovered position: (\S+)/.exec(text)?.[1];
  if (!position) throw new Error(`${node.name}: no recovered position in\n${text.slice(-2000)}`);
  return position;
}

/** Until a query through HAProxy reaches node 1, the first writer. */
async function waitForProxy(cluster: GaleraCluster): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const rows = await query<mysql.RowDataPacket[]>(
      cluster.endpoint,
      'SELECT @@wsrep_node_name AS node',
    ).catch(() => []);
    if (rows[0]?.['node'] === 'node1') return;
    if (performance.now() > deadline) throw new Error('HAProxy did not route to node1 in 30 s');
    await sleep(250);
  }
}

/** Installs Debian's HAProxy where it is missing and this user can (root with apt-get). */
export async function provideHaproxy(log: (line: string) => void): Promise<string | undefined> {
  const present = await run('sh', ['-c', 'command -v haproxy']).then(
    () => true,
    () => false,
  );
  if (present) return undefined;
  if (!(await canInstallDebianPackages())) {
    return 'HAProxy is not installed (Debian: apt-get install haproxy)';
  }
  log("test setup: HAProxy is missing; installing Debian's haproxy package");
  try {
    await installDebianPackages(['haproxy']);
    return undefined;
  } catch (error) {
    return `HAProxy could not be installed (${String(error)}): apt-get install haproxy`;
  }
}
