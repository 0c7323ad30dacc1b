import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The server's own scripts: the /usr/sbin wrappers switch to the rabbitmq user and its cookie. */
export const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const NODE_NUMBERS = [1, 2, 3] as const;
/** Base folders start with this, so that a later run can find what a killed run left behind. */
const BASE_PREFIX = 'rabbitmq-cluster-';
/** A boot takes 5-13 s on two busy cores; a rejoin up to 16 s. */
const BOOT_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 30_000;

export type NodeNumber = (typeof NODE_NUMBERS)[number];

export interface ClusterNode {
  readonly number: NodeNumber;
  /** `nodeN@localhost`. */
  readonly name: string;
  readonly amqpPort: number;
  readonly amqpUrl: string;
}

/** One queue as `rabbitmqctl list_queues` sees it. */
export interface QueueInfo {
  name: string;
  type: string;
  /** The node that leads a quorum queue, e.g. `node1@localhost`. */
  leader: string | undefined;
  members: string[];
  online: string[];
}

export interface RabbitmqCluster {
  readonly baseDir: string;
  readonly nodes: readonly ClusterNode[];
  /** The AMQP URLs of all nodes, comma-separated, starting with node `first` (rotated). */
  amqpUrlList(first?: NodeNumber): string;
  /** The node named `nodeN@localhost`. */
  nodeNamed(name: string): ClusterNode;
  /** SIGKILL of the node's Erlang VM, as a crash; resolves once it is gone. */
  kill(node: NodeNumber): Promise<void>;
  /** Boots a stopped or killed node with its old data; resolves once it is running. */
  start(node: NodeNumber): Promise<void>;
  /** Graceful shutdown (`rabbitmqctl shutdown`); resolves once the VM is gone. */
  stop(node: NodeNumber): Promise<void>;
  /** Whether the node's VM is running (started by this cluster and not killed or stopped). */
  isRunning(node: NodeNumber): boolean;
  /** The queues, asked of a running node. Each call costs about a second of CPU: poll sparingly. */
  queueInfo(): Promise<QueueInfo[]>;
  /** Kills every node and removes the base folder. Safe to call twice. */
  teardown(): Promise<void>;
}

interface NodeState {
  node: ClusterNode;
  dir: string;
  pidFile: string;
  /** The pid of the rabbitmq-server script, leader of the node's process group. */
  scriptPid: number | undefined;
  running: boolean;
}

const AMQP_PORT_BASE = 5700;
const DIST_PORT_BASE = 25700;
const CLI_PORT_BASE = 35700;

function describeNode(number: NodeNumber): ClusterNode {
  const amqpPort = AMQP_PORT_BASE + number;
  return {
    number,
    name: `node${number}@localhost`,
    amqpPort,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
  };
}

/** What server and CLI of node N read: nothing from /etc/rabbitmq or the system node. */
function nodeEnvironment(baseDir: string, number: NodeNumber): NodeJS.ProcessEnv {
  const dir = path.join(baseDir, `node${number}`);
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    // The server and the CLI both read the cookie from $HOME/.erlang.cookie.
    HOME: path.join(baseDir, 'home'),
    LANG: 'C.UTF-8',
    RABBITMQ_NODENAME: `node${number}@localhost`,
    RABBITMQ_USE_LONGNAME: 'false',
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(AMQP_PORT_BASE + number),
    RABBITMQ_DIST_PORT: String(DIST_PORT_BASE + number),
    RABBITMQ_CONF_ENV_FILE: path.join(baseDir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(baseDir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'beam.pid'),
    // CLI calls open a distribution port of their own: keep them clear of the system node's.
    RABBITMQ_CTL_DIST_PORT_MIN: String(CLI_PORT_BASE + 10 * number),
    RABBITMQ_CTL_DIST_PORT_MAX: String(CLI_PORT_BASE + 10 * number + 9),
  };
}

function nodeConfig(number: NodeNumber, joinAtBoot: boolean): string {
  const lines = [
    `listeners.tcp.1 = 127.0.0.1:${AMQP_PORT_BASE + number}`,
    'log.file.level = info',
    'log.console = false',
    'cluster_partition_handling = pause_minority',
  ];
  if (joinAtBoot) {
    lines.push('cluster_formation.peer_discovery_backend = classic_config');
    for (const peer of NODE_NUMBERS) {
      lines.push(`cluster_formation.classic_config.nodes.${peer} = node${peer}@localhost`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Running and not a zombie waiting for its parent. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isAlive(pid)) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** The VMs of base folders a run killed before its teardown left behind, killed by pid. */
function killLeftovers(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(BASE_PREFIX)) continue;
    const baseDir = path.join(tmpdir(), entry);
    for (const number of NODE_NUMBERS) {
      const pid = readPid(path.join(baseDir, `node${number}`, 'beam.pid'));
      if (pid !== undefined && commandLineOf(pid).includes(baseDir)) killQuietly(pid);
    }
    rmSync(baseDir, { recursive: true, force: true });
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Folders and pids of every live cluster of this process, for the teardown on a signal. */
const liveClusters = new Set<{ teardownNow(): void }>();

function teardownAllNow(): void {
  for (const cluster of liveClusters) cluster.teardownNow();
}

let signalHandlersInstalled = false;

/** On Ctrl-C or a kill, no node outlives the run: kill them, then die of the same signal. */
function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      teardownAllNow();
      process.kill(process.pid, signal);
    });
  }
  process.once('exit', teardownAllNow);
}

/**
 * Boots a private three-node cluster on this machine (nodes `node1..3@localhost`, AMQP on
 * 5701-5703) under a temporary folder of its own with a random cookie, so it can never reach
 * the machine's broker. Node 1 boots first, then 2 and 3 together join it by peer discovery.
 * Resolves once all three run as one cluster; on failure tears down what it started.
 */
export async function startCluster(): Promise<RabbitmqCluster> {
  killLeftovers();
  installSignalHandlers();
  const baseDir = mkdtempSync(path.join(tmpdir(), BASE_PREFIX));
  const states = new Map<NodeNumber, NodeState>(
    NODE_NUMBERS.map((number) => {
      const dir = path.join(baseDir, `node${number}`);
      const state: NodeState = {
        node: describeNode(number),
        dir,
        pidFile: path.join(dir, 'beam.pid'),
        scriptPid: undefined,
        running: false,
      };
      return [number, state];
    }),
  );
  const stateOf = (number: NodeNumber): NodeState => {
    const state = states.get(number);
    if (!state) throw new Error(`no node ${number} in this cluster`);
    return state;
  };

  let tornDown = false;
  const handle = {
    teardownNow(): void {
      for (const state of states.values()) {
        const pid = readPid(state.pidFile);
        if (pid !== undefined) killQuietly(pid);
        // The script and any helper it started share its process group.
        if (state.scriptPid !== undefined) killQuietly(-state.scriptPid);
        state.running = false;
      }
      rmSync(baseDir, { recursive: true, force: true });
      liveClusters.delete(handle);
    },
  };
  liveClusters.add(handle);

  function cli(number: NodeNumber, tool: string, args: string[], timeoutMs = CLI_TIMEOUT_MS) {
    return run(path.join(RABBITMQ_BIN, tool), ['-n', `node${number}@localhost`, ...args], {
      env: nodeEnvironment(baseDir, number),
      cwd: baseDir,
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
  }

  function launch(number: NodeNumber): void {
    const state = stateOf(number);
    rmSync(state.pidFile, { force: true });
    const output = openSync(path.join(state.dir, 'log', 'stdout.log'), 'a');
    // detached: a session and process group of its own, so the teardown can kill it whole.
    const child = spawn(path.join(RABBITMQ_BIN, 'rabbitmq-server'), [], {
      env: nodeEnvironment(baseDir, number),
      cwd: baseDir,
      detached: true,
      stdio: ['ignore', output, output],
    });
    closeSync(output);
    child.unref();
    state.scriptPid = child.pid;
    state.running = true;
  }

  /** await_startup fails at once while the node cannot be reached yet: ask again until it can. */
  async function awaitStartup(number: NodeNumber): Promise<void> {
    const state = stateOf(number);
    const deadline = performance.now() + BOOT_TIMEOUT_MS;
    let lastError = '';
    while (performance.now() < deadline) {
      if (tornDown) throw new Error(`cluster torn down while node${number} was booting`);
      if (state.scriptPid !== undefined && !isAlive(state.scriptPid)) break;
      try {
        await cli(number, 'rabbitmqctl', ['await_startup', '--timeout', '60'], 65_000);
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        await sleep(500);
      }
    }
    throw new Error(
      `node${number}@localhost did not start (log: ${path.join(state.dir, 'log')}): ${lastError}`,
    );
  }

  async function boot(number: NodeNumber): Promise<void> {
    launch(number);
    await awaitStartup(number);
  }

  async function prepare(): Promise<void> {
    const home = path.join(baseDir, 'home');
    mkdirSync(home, { recursive: true });
    await writeFile(path.join(home, '.erlang.cookie'), randomBytes(24).toString('hex'), {
      mode: 0o400,
    });
    await writeFile(path.join(baseDir, 'enabled_plugins'), '[].\n');
    // An empty file in place of /etc/rabbitmq/rabbitmq-env.conf.
    await writeFile(path.join(baseDir, 'rabbitmq-env.conf'), '');
    for (const number of NODE_NUMBERS) {
      const state = stateOf(number);
      mkdirSync(path.join(state.dir, 'mnesia'), { recursive: true });
      mkdirSync(path.join(state.dir, 'log'), { recursive: true });
      await writeFile(path.join(state.dir, 'rabbitmq.conf'), nodeConfig(number, number !== 1));
    }
  }

  async function kill(number: NodeNumber): Promise<void> {
    const state = stateOf(number);
    const pid = readPid(state.pidFile);
    if (pid === undefined) throw new Error(`node${number} has no pid file: is it running?`);
    killQuietly(pid);
    state.running = false;
    if (!(await waitUntilGone(pid, 10_000))) throw new Error(`node${number} survived SIGKILL`);
    if (state.scriptPid !== undefined) await waitUntilGone(state.scriptPid, 5_000);
  }

  async function stop(number: NodeNumber): Promise<void> {
    const state = stateOf(number);
    const pid = readPid(state.pidFile);
    await cli(number, 'rabbitmqctl', ['shutdown'], STOP_TIMEOUT_MS);
    state.running = false;
    if (pid !== undefined && !(await waitUntilGone(pid, STOP_TIMEOUT_MS))) {
      throw new Error(`node${number} did not stop within ${STOP_TIMEOUT_MS} ms`);
    }
  }

  async function queueInfo(): Promise<QueueInfo[]> {
    const asked = NODE_NUMBERS.filter((number) => stateOf(number).running);
    let lastError: unknown = new Error('no node is running');
    for (const number of asked) {
      try {
        const { stdout } = await cli(number, 'rabbitmqctl', [
          'list_queues',
          'name',
          'type',
          'leader',
          'members',
          'online',
          '--formatter',
          'json',
          '-q',
        ]);
        return parseQueueList(stdout);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  async function teardown(): Promise<void> {
    if (tornDown) return;
    tornDown = true;
    const pids = [...states.values()].flatMap((state) => {
      const pid = readPid(state.pidFile);
      return [pid, state.scriptPid].filter((known): known is number => known !== undefined);
    });
    handle.teardownNow();
    await Promise.all(pids.map((pid) => waitUntilGone(pid, 10_000)));
  }

  const cluster: RabbitmqCluster = {
    baseDir,
    nodes: NODE_NUMBERS.map((number) => stateOf(number).node),
    amqpUrlList(first = 1) {
      const rotated = [...NODE_NUMBERS.slice(first - 1), ...NODE_NUMBERS.slice(0, first - 1)];
      return rotated.map((number) => stateOf(number).node.amqpUrl).join(',');
    },
    nodeNamed(name) {
      const found = [...states.values()].find((state) => state.node.name === name);
      if (!found) throw new Error(`no node named ${name} in this cluster`);
      return found.node;
    },
    kill,
    start: boot,
    stop,
    isRunning: (number) => stateOf(number).running,
    queueInfo,
    teardown,
  };

  try {
    await prepare();
    await boot(1);
    await Promise.all([boot(2), boot(3)]);
    return cluster;
  } catch (error) {
    await teardown();
    throw error;
  }
}

function parseQueueList(stdout: string): QueueInfo[] {
  const rows: unknown = JSON.parse(stdout.trim() || '[]');
  if (!Array.isArray(rows)) throw new Error(`list_queues answered ${stdout}`);
  return rows.map((row: Record<string, unknown>) => ({
    name: String(row['name']),
    type: String(row['type']),
    leader: typeof row['leader'] === 'string' && row['leader'] !== '' ? row['leader'] : undefined,
    members: namesIn(row['members']),
    online: namesIn(row['online']),
  }));
}

function namesIn(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String).sort() : [];
}
