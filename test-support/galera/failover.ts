import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate } from '@subscriptions/store';
import mysql from 'mysql2/promise';
import { createTestVhost, type TestVhost } from '../broker';
import { releaseAll } from '../cleanup';
import type { MysqlServer } from '../database';
import { type Api, createApi, type SubscriptionBody } from '../http/api';
import {
  auditKeyedLoad,
  faultedLoadFields,
  type FaultedLoadFigures,
  type KeyedRequest,
  LIFECYCLE,
  measureFaultedLoad,
  sendKeyed,
  startKeyedLoad,
} from '../http/keyed-load';
import { isSuccess, printFigures } from '../http/load';
import {
  auditEvents,
  type EventSubscriber,
  openEventSubscriber,
  readHistory,
} from '../outcomes/events';
import { createUsers } from '../outcomes/ledger';
import { type Consumer, type Producer, startConsumer, startProducer } from '../processes/services';
import { waitUntil } from '../wait';
import type { GaleraCluster, NodeNumber } from './galera-cluster';

/** Short enough that a lost reply is retried within seconds. */
const RPC_TIMEOUT_MS = 5_000;
const CLIENTS = 6;
const THINK_MS = 40;
const RETRY_BACKOFF_MS = 200;
const REQUEST_GIVE_UP_MS = 60_000;
const USERS = 4_000;
const LEADER_SAMPLE_MS = 100;
/** The longest stretch without a 2xx a scenario allows. */
export const MAX_GAP_MS = 5_000;
/**
 * How long before a relay is seen to lose its lease a duplicate may have first gone out: what it
 * published after the last position it could record. It records every 250 ms, and it may be
 * unable to record (its database frozen) for as long as its lease runs (5 s); its successor
 * publishes those again. With room for the 100 ms sampling of who leads.
 */
const HANDOVER_TAIL_MS = 6_000;

/** One scenario's database, broker vhost, services and event subscriber on the cluster. */
export interface GaleraStage {
  cluster: GaleraCluster;
  database: string;
  /** Through the proxy, for arranging users and reading back what the run left. */
  pool: mysql.Pool;
  vhost: TestVhost;
  consumers: Consumer[];
  producer: Producer;
  subscriber: EventSubscriber;
  users: number[];
  /** Processes that exited since they started: none may. */
  exits: string[];
  release(): Promise<void>;
}

export interface StageOptions {
  /**
   * Where each consumer connects: `proxy` (HAProxy, one writer) or a node of its own (writes
   * reaching two nodes at once). Two consumers through the proxy unless given.
   */
  consumers?: readonly (NodeNumber | 'proxy')[];
}

let databases = 0;

export async function createGaleraStage(
  cluster: GaleraCluster,
  options: StageOptions = {},
): Promise<GaleraStage> {
  const { consumers: placement = ['proxy', 'proxy'] } = options;
  databases += 1;
  const database = `galera_${process.pid}_${databases}`;
  const consumers: Consumer[] = [];
  const exits: string[] = [];
  let producer: Producer | undefined;
  let subscriber: EventSubscriber | undefined;
  let vhost: TestVhost | undefined;
  const pool = mysql.createPool({ ...cluster.endpoint, database, connectionLimit: 4 });
  const release = async () => {
    await releaseAll([producer?.stop(), ...consumers.map((consumer) => consumer.stop())]);
    await releaseAll([subscriber?.close(), vhost?.delete(), pool.end()]);
  };
  const serverOf = (place: NodeNumber | 'proxy'): MysqlServer =>
    place === 'proxy' ? cluster.endpoint : cluster.node(place).server;
  try {
    await migrate({ ...cluster.endpoint, database });
    vhost = await createTestVhost();
    subscriber = await openEventSubscriber(vhost.url);
    for (const place of placement) {
      const consumer = await startConsumer({
        amqpUrl: vhost.url,
        database,
        mysql: serverOf(place),
        readiness: 'readyz',
      });
      consumers.push(consumer);
      void consumer.waitForExit().then(() => exits.push(`consumer on ${place}`));
    }
    producer = await startProducer({
      amqpUrl: vhost.url,
      database,
      mysql: cluster.endpoint,
      rpcTimeoutMs: RPC_TIMEOUT_MS,
      // The load is many users' worth from one address, repeats included: the rate limit is not
      // what these scenarios measure.
      env: { RATE_LIMIT_PER_MINUTE: '0' },
    });
    void producer.waitForExit().then(() => exits.push('producer'));
    const users = await createUsers(pool, USERS, 'Galera');
    return {
      cluster,
      database,
      pool,
      vhost,
      consumers,
      producer,
      subscriber,
      users,
      exits,
      release,
    };
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/** Who leads the relay at one moment, as each consumer's metrics say. */
interface LeaderSample {
  at: number;
  leading: boolean[];
}

export interface GaleraRun {
  scenario: string;
  requests: readonly KeyedRequest[];
  samples: LeaderSample[];
  faultAt: number;
  faultEndedAt: number;
  writerBefore: NodeNumber | undefined;
  writerAfter: NodeNumber | undefined;
}

async function sampleLeaders(stage: GaleraStage): Promise<boolean[]> {
  return Promise.all(
    stage.consumers.map(async (consumer) => {
      const text = await fetch(consumer.metricsUrl as string)
        .then((response) => response.text())
        .catch(() => '');
      return /^subscriptions_event_relay_leader 1$/m.test(text);
    }),
  );
}

/**
 * A steady keyed load (purchases, cancels, restarts; 503 and 504 retried with their key), the
 * fault in the middle of it, a while of load after, then every request to its final answer.
 * Who leads the relay is sampled throughout.
 */
export async function runGaleraFailover(
  stage: GaleraStage,
  options: {
    scenario: string;
    fault: (stage: GaleraStage) => Promise<void>;
    warmupMs?: number;
    cooldownMs?: number;
  },
): Promise<GaleraRun> {
  const { scenario, fault, warmupMs = 5_000, cooldownMs = 6_000 } = options;
  const api = createApi(stage.producer.baseUrl);
  const samples: LeaderSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ at: performance.now(), leading: await sampleLeaders(stage) });
      await sleep(LEADER_SAMPLE_MS);
    }
  })();
  const load = startKeyedLoad({
    apis: [api],
    users: stage.users,
    chain: LIFECYCLE,
    clientsPerApi: CLIENTS,
    thinkMs: THINK_MS,
    retryBackoffMs: RETRY_BACKOFF_MS,
    giveUpMs: REQUEST_GIVE_UP_MS,
  });
  const writerBefore = await stage.cluster.writer();
  let faultAt: number;
  let faultEndedAt: number;
  try {
    await sleep(warmupMs);
    faultAt = performance.now();
    await fault(stage);
    faultEndedAt = performance.now();
    await sleep(cooldownMs);
  } finally {
    await load.stop();
    sampling = false;
    await sampler;
  }
  return {
    scenario,
    requests: load.requests,
    samples,
    faultAt,
    faultEndedAt,
    writerBefore,
    writerAfter: await stage.cluster.writer(),
  };
}

/** The first 16 bytes of SHA-256 of "<scope>:<key>", as `idempotency_key.key_hash` holds them. */
function keyHash(key: string): string {
  return createHash('sha256').update(`anonymous:${key}`).digest().subarray(0, 16).toString('hex');
}

const EVENT_OF = {
  purchase: 'SUBSCRIPTION_PURCHASED',
  cancel: 'SUBSCRIPTION_CANCELED',
  restart: 'SUBSCRIPTION_RESTARTED',
} as const;

/**
 * Every command record of the run points at its own history row: the row of the subscription
 * the client was answered with, of the command's kind.
 */
async function auditCommandRecords(
  pool: mysql.Pool,
  requests: readonly KeyedRequest[],
): Promise<string[]> {
  const [rows] = await pool.query<mysql.RowDataPacket[]>(
    `SELECT HEX(k.key_hash) AS key_hash, e.subscription_id, e.type
     FROM idempotency_key k
     JOIN command_record c ON c.accepted_at = k.accepted_at AND c.id_hash = k.id_hash
     LEFT JOIN event_history e ON e.id = c.event_id`,
  );
  const recorded = new Map(rows.map((row) => [String(row['key_hash']).toLowerCase(), row]));
  const problems: string[] = [];
  for (const request of requests) {
    if (!request.final || !isSuccess(request.final)) continue;
    const row = recorded.get(keyHash(request.key));
    const answered = (request.final.body as SubscriptionBody).id;
    if (!row) {
      problems.push(`${request.kind} ${request.key}: no command record`);
    } else if (
      Number(row['subscription_id']) !== answered ||
      row['type'] !== EVENT_OF[request.kind]
    ) {
      problems.push(
        `${request.kind} ${request.key} (subscription ${answered}): its record points at ` +
          `${String(row['type'])} of subscription ${String(row['subscription_id'])}`,
      );
    }
  }
  return problems;
}

/** Each applied key sent again: the stored answer, replayed, with its own subscription. */
async function auditRepeats(api: Api, requests: readonly KeyedRequest[]): Promise<string[]> {
  const problems: string[] = [];
  const applied = requests.filter((request) => request.final && isSuccess(request.final));
  for (let index = 0; index < applied.length; index += 20) {
    await Promise.all(
      applied.slice(index, index + 20).map(async (request) => {
        const first = request.final as NonNullable<KeyedRequest['final']>;
        const repeat = await sendKeyed(api, request);
        const was = first.body as SubscriptionBody;
        const is = repeat.body as SubscriptionBody | undefined;
        if (
          repeat.status !== first.status ||
          !repeat.replayed ||
          is?.id !== was.id ||
          is.user_id !== was.user_id ||
          is.status !== was.status
        ) {
          problems.push(
            `${request.kind} ${request.key}: first ${first.status} subscription ${was.id} ` +
              `${was.status}, repeated ${repeat.status} ${JSON.stringify(repeat.body)}`,
          );
        }
      }),
    );
  }
  return problems;
}

export interface GaleraFigures extends FaultedLoadFigures {
  events: number;
  duplicates: number;
  handovers: number;
  samplesWithTwoLeaders: number;
}

/**
 * What every scenario checks once its run is over, as readable lines (none when all is well):
 * every key applied once, every answer (first or repeated) with its own subscription, every
 * command record at its own history row, only 2xx, 409, 503 and 504, no stretch over 5 s without
 * a 2xx, every applied change published with copies only as a relay handover's tail, never two
 * relays leading, no process restarted, and the three nodes Synced again.
 */
export async function reviewGaleraFailover(
  stage: GaleraStage,
  run: GaleraRun,
): Promise<{ figures: GaleraFigures; problems: string[] }> {
  const problems: string[] = [...stage.exits.map((exit) => `${exit} exited`)];
  await stage.cluster.waitUntilSynced([1, 2, 3]).catch((error: unknown) => {
    problems.push(`the cluster did not come back whole: ${String(error)}`);
  });
  const history = await readHistory(stage.pool);
  const published = new Set<string>();
  await waitUntil(
    'every history row published',
    () => {
      for (const { event } of stage.subscriber.received) published.add(event.id);
      return history.every((row) => published.has(String(row.id)));
    },
    60_000,
    250,
  ).catch((error: unknown) => problems.push(String(error)));
  const events = auditEvents(history, stage.subscriber.received);
  problems.push(...events.problems);
  problems.push(...(await auditKeyedLoad(stage.pool, run.requests)));
  problems.push(...(await auditCommandRecords(stage.pool, run.requests)));
  problems.push(...(await auditRepeats(createApi(stage.producer.baseUrl), run.requests)));

  const figures: GaleraFigures = {
    ...measureFaultedLoad(run),
    events: history.length,
    duplicates: events.duplicates,
    handovers: 0,
    samplesWithTwoLeaders: 0,
  };
  if (figures.longestGapMs > MAX_GAP_MS) {
    problems.push(`${figures.longestGapMs} ms without a 2xx (at most ${MAX_GAP_MS})`);
  }

  // Never two leaders; a duplicate only within a handover's tail.
  const leadLost: number[] = [];
  let previous: boolean[] | undefined;
  for (const sample of run.samples) {
    if (sample.leading.filter(Boolean).length > 1) figures.samplesWithTwoLeaders += 1;
    sample.leading.forEach((now, consumer) => {
      if (previous?.[consumer] && !now) leadLost.push(sample.at);
    });
    previous = sample.leading;
  }
  // A relay can lose its lead and take it again between two samples (its lease ran out while
  // its node was frozen): its own log line says when, on the same clock as the arrivals.
  const runStartedAt = run.samples[0]?.at ?? 0;
  for (const consumer of stage.consumers) {
    for (const line of consumer.logLines()) {
      if (line.msg !== 'no longer relaying events' || typeof line['time'] !== 'number') continue;
      const at = line['time'] - performance.timeOrigin;
      if (
        at >= runStartedAt &&
        !leadLost.some((lostAt) => Math.abs(lostAt - at) < LEADER_SAMPLE_MS * 2)
      ) {
        leadLost.push(at);
      }
    }
  }
  figures.handovers = leadLost.length;
  if (figures.samplesWithTwoLeaders > 0) {
    problems.push(`${figures.samplesWithTwoLeaders} samples saw two relays leading`);
  }
  const firstArrival = new Map<string, number>();
  const seen = new Set<string>();
  for (const { event, receivedAt } of stage.subscriber.received) {
    if (!seen.has(event.id)) {
      seen.add(event.id);
      firstArrival.set(event.id, receivedAt);
      continue;
    }
    const first = firstArrival.get(event.id) as number;
    if (!leadLost.some((lostAt) => first >= lostAt - HANDOVER_TAIL_MS && first <= lostAt + 500)) {
      problems.push(`event ${event.id} came twice, not in a handover's tail`);
    }
  }

  printFigures(run.scenario, {
    ...faultedLoadFields(figures),
    events: figures.events,
    duplicates: figures.duplicates,
    relay_handovers: figures.handovers,
    writer: `node${run.writerBefore ?? '?'} -> node${run.writerAfter ?? '?'}`,
  });
  return { figures, problems };
}
