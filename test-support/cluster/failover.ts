import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUES } from '@subscriptions/contracts';
import { releaseAll } from '../cleanup';
import { createTestDatabase, type TestDatabase } from '../database';
import { createApi } from '../http/api';
import {
  auditKeyedLoad,
  faultedLoadFields,
  type FaultedLoadFigures,
  type KeyedRequest,
  LIFECYCLE,
  measureFaultedLoad,
  startKeyedLoad,
} from '../http/keyed-load';
import { printFigures } from '../http/load';
import { createUsers } from '../outcomes/ledger';
import {
  type Producer,
  type ServiceProcess,
  startConsumer,
  startProducer,
} from '../processes/services';
import {
  type NodeNumber,
  type QueueInfo,
  type RabbitmqCluster,
  startCluster,
} from './rabbitmq-cluster';

/** Short enough that a lost reply is retried within seconds, long enough for a leader election. */
export const RPC_TIMEOUT_MS = 5_000;
/** Each of the two producers drives this many clients, one request at a time each. */
const CLIENTS_PER_PRODUCER = 4;
/** A client's pause between two requests: a steady load that leaves the two cores room. */
const THINK_MS = 60;
/** The backoff between two attempts of one request (same key), as a patient client would. */
const RETRY_BACKOFF_MS = 250;
/** A request that has no final answer after this long is reported as never answered. */
const REQUEST_GIVE_UP_MS = 45_000;
/** Users made up front: more than the clients can go through in a scenario. */
const USERS = 3_000;
const READY_PROBE_MS = 500;
const QUEUE_POLL_MS = 2_000;

/** The cluster and the two producers and three consumers on it, with a scratch database. */
export interface ClusterStage {
  cluster: RabbitmqCluster;
  db: TestDatabase;
  producers: Producer[];
  consumers: ServiceProcess[];
  /** The node each producer started on, by index. */
  producerNodes: readonly NodeNumber[];
  users: number[];
  /** Names of the processes that have exited since they started, in order. */
  exits: string[];
  release(): Promise<void>;
}

export interface StageOptions {
  /** The node each of the two producers starts on (its AMQP_URL list begins there). */
  producerNodes?: readonly [NodeNumber, NodeNumber];
}

/**
 * A fresh cluster, then consumers on nodes 1, 2 and 3 (the first declares the command queues,
 * so they are led by node 1 and replicated on all three), then the producers.
 */
export async function createClusterStage(options: StageOptions = {}): Promise<ClusterStage> {
  const { producerNodes = [2, 3] } = options;
  const cluster = await startCluster();
  const producers: Producer[] = [];
  const consumers: ServiceProcess[] = [];
  const exits: string[] = [];
  let db: TestDatabase | undefined;
  const release = async () => {
    try {
      await releaseAll([
        ...producers.map((producer) => producer.stop()),
        ...consumers.map((consumer) => consumer.stop()),
      ]);
    } finally {
      await releaseAll([db?.drop(), cluster.teardown()]);
    }
  };
  const follow = (service: ServiceProcess, label: string) => {
    void service.waitForExit().then(() => exits.push(`${label} (pid ${service.pid})`));
  };
  try {
    db = await createTestDatabase();
    const database = db.name;
    for (const node of [1, 2, 3] as const) {
      const consumer = await startConsumer({ amqpUrl: cluster.amqpUrlList(node), database });
      consumers.push(consumer);
      follow(consumer, `consumer on node${node}`);
    }
    for (const node of producerNodes) {
      const producer = await startProducer({
        amqpUrl: cluster.amqpUrlList(node),
        database,
        rpcTimeoutMs: RPC_TIMEOUT_MS,
        // The load is many users' worth from one address, repeats included: the rate limit is not
        // what these scenarios measure.
        env: { RATE_LIMIT_PER_MINUTE: '0' },
      });
      producers.push(producer);
      follow(producer, `producer on node${node}`);
    }
    const users = await createUsers(db.pool, USERS, 'Cluster');
    return { cluster, db, producers, consumers, producerNodes, users, exits, release };
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/** The command queues as the cluster sees them; fails when one is missing. */
export async function commandQueues(cluster: RabbitmqCluster): Promise<QueueInfo[]> {
  const queues = await cluster.queueInfo();
  return QUEUES.map((name) => {
    const queue = queues.find((candidate) => candidate.name === name);
    if (!queue) throw new Error(`queue ${name} is not declared: ${JSON.stringify(queues)}`);
    return queue;
  });
}

/** The node that leads most of the command queues (all of them, as the stage declares them). */
export async function commandQueueLeader(cluster: RabbitmqCluster): Promise<NodeNumber> {
  const leaders = (await commandQueues(cluster)).map((queue) => queue.leader);
  const [first] = leaders;
  const most = leaders.reduce(
    (best, leader) =>
      leaders.filter((other) => other === leader).length >
      leaders.filter((other) => other === best).length
        ? leader
        : best,
    first,
  );
  if (most === undefined) throw new Error('the command queues have no leader');
  return cluster.nodeNamed(most).number;
}

/** Waits until every command queue counts all `nodes` among its online members. */
export async function waitUntilOnline(
  cluster: RabbitmqCluster,
  nodes: readonly NodeNumber[],
  timeoutMs = 60_000,
): Promise<void> {
  const names = nodes.map((node) => `node${node}@localhost`);
  const deadline = performance.now() + timeoutMs;
  let seen: QueueInfo[] = [];
  while (performance.now() < deadline) {
    try {
      seen = await commandQueues(cluster);
      if (seen.every((queue) => names.every((name) => queue.online.includes(name)))) return;
    } catch {
      // A node that is still joining may not answer yet: ask again.
    }
    await sleep(QUEUE_POLL_MS);
  }
  throw new Error(`${names.join(', ')} not online in every command queue: ${JSON.stringify(seen)}`);
}

export interface ReadyProbe {
  producer: number;
  status: number;
  at: number;
}

export interface FailoverRun {
  scenario: string;
  requests: readonly KeyedRequest[];
  readyProbes: ReadyProbe[];
  loadStartedAt: number;
  faultAt: number;
  faultEndedAt: number;
  loadEndedAt: number;
  /** Nodes the fault stopped or killed and started again. */
  restartedNodes: NodeNumber[];
}

export interface Fault {
  /** Runs the fault; resolves with the nodes it took down and brought back, once they are back. */
  (stage: ClusterStage): Promise<NodeNumber[]>;
}

export interface FailoverOptions {
  scenario: string;
  fault: Fault;
  /** Load before the fault, and after it once the nodes are back. */
  warmupMs?: number;
  cooldownMs?: number;
}

/**
 * Runs the steady load (purchases, cancels and restarts on both producers), the fault in the
 * middle of it, and a while of load after; then lets every request in flight reach a final answer.
 */
export async function runFailover(
  stage: ClusterStage,
  options: FailoverOptions,
): Promise<FailoverRun> {
  const { scenario, fault, warmupMs = 6_000, cooldownMs = 6_000 } = options;
  const apis = stage.producers.map((producer) => createApi(producer.baseUrl));
  const readyProbes: ReadyProbe[] = [];
  let probing = true;

  async function probeReadiness(): Promise<void> {
    while (probing) {
      await Promise.all(
        apis.map(async (api, producer) => {
          const status = await api
            .send('GET', '/readyz')
            .then((response) => response.status)
            .catch(() => 0);
          readyProbes.push({ producer, status, at: performance.now() });
        }),
      );
      await sleep(READY_PROBE_MS);
    }
  }

  const load = startKeyedLoad({
    apis,
    users: stage.users,
    chain: LIFECYCLE,
    clientsPerApi: CLIENTS_PER_PRODUCER,
    thinkMs: THINK_MS,
    retryBackoffMs: RETRY_BACKOFF_MS,
    giveUpMs: REQUEST_GIVE_UP_MS,
  });
  const probes = probeReadiness();
  let faultAt: number;
  let faultEndedAt: number;
  let restartedNodes: NodeNumber[];
  try {
    await sleep(warmupMs);
    faultAt = performance.now();
    restartedNodes = await fault(stage);
    faultEndedAt = performance.now();
    await sleep(cooldownMs);
  } finally {
    probing = false;
    await Promise.all([load.stop(), probes]);
  }
  return {
    scenario,
    requests: load.requests,
    readyProbes,
    loadStartedAt: load.startedAt,
    faultAt,
    faultEndedAt,
    loadEndedAt: performance.now(),
    restartedNodes,
  };
}

/** The figures a run is judged by. Times in ms. */
export function printFailover(run: FailoverRun, figures: FaultedLoadFigures): void {
  printFigures(run.scenario, {
    ...faultedLoadFields(figures),
    restarted: run.restartedNodes.map((node) => `node${node}`),
  });
}

/** What must hold of the processes and queues after any scenario. */
export async function auditCluster(stage: ClusterStage, run: FailoverRun): Promise<string[]> {
  const problems = stage.exits.map((exit) => `${exit} exited`);
  const queues = await commandQueues(stage.cluster);
  const all = stage.cluster.nodes.map((node) => node.name).sort();
  for (const queue of queues) {
    if (queue.type !== 'quorum') problems.push(`${queue.name} is ${queue.type}`);
    if (queue.members.join() !== all.join()) {
      problems.push(`${queue.name} members ${queue.members.join(', ')}`);
    }
    for (const node of run.restartedNodes) {
      if (!queue.online.includes(`node${node}@localhost`)) {
        problems.push(`${queue.name}: node${node} not back online (${queue.online.join(', ')})`);
      }
    }
  }
  return problems;
}

/**
 * What every scenario checks after its run: its figures (printed), and the problems the ledger
 * and the cluster show, which must be none.
 */
export async function reviewFailover(
  stage: ClusterStage,
  run: FailoverRun,
): Promise<{ figures: FaultedLoadFigures; problems: string[] }> {
  const figures = measureFaultedLoad(run);
  printFailover(run, figures);
  const problems = [
    ...(await auditKeyedLoad(stage.db.pool, run.requests)),
    ...(await auditCluster(stage, run)),
  ];
  return { figures, problems };
}
