import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate } from '@subscriptions/store';
import mysql from 'mysql2/promise';
import { printFigures } from '../../test-support/http/load';
import {
  createGaleraStage,
  type GaleraStage,
  reviewGaleraFailover,
  runGaleraFailover,
} from '../../test-support/galera/failover';
import {
  type GaleraCluster,
  NODE_NUMBERS,
  type NodeNumber,
  startGaleraCluster,
} from '../../test-support/galera/galera-cluster';

/**
 * The service on a three-node MariaDB Galera cluster behind HAProxy (one writer), losing its
 * writer, a backup, and its writer for 10 s, under keyed load; then writes reaching two nodes at
 * once. Each scenario has a database and a vhost of its own on the one cluster.
 */

/** How long a killed node stays down, and a frozen one frozen. */
const DOWN_MS = 10_000;

let cluster: GaleraCluster | undefined;
const stages: GaleraStage[] = [];

function theCluster(): GaleraCluster {
  if (!cluster) throw new Error('the cluster did not start');
  return cluster;
}

async function writerNode(): Promise<NodeNumber> {
  const writer = await theCluster().writer();
  if (writer === undefined) throw new Error('HAProxy names no writer');
  return writer;
}

async function stage(options?: Parameters<typeof createGaleraStage>[1]): Promise<GaleraStage> {
  const created = await createGaleraStage(theCluster(), options);
  stages.push(created);
  return created;
}

beforeAll(async () => {
  const started = Date.now();
  cluster = await startGaleraCluster();
  printFigures('galera: cluster up', { seconds: (Date.now() - started) / 1000 });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(stages.map((each) => each.release()));
  await cluster?.teardown();
}, 60_000);

describe('the service on a Galera cluster', () => {
  it('loses nothing when the writer is SIGKILLed and restarted 10 s later', async () => {
    const scene = await stage();
    let killed: NodeNumber | undefined;
    const run = await runGaleraFailover(scene, {
      scenario: 'galera: writer SIGKILLed',
      fault: async ({ cluster: nodes }) => {
        killed = await writerNode();
        await nodes.kill(killed);
        await sleep(DOWN_MS);
        await nodes.start(killed);
      },
    });
    const { problems } = await reviewGaleraFailover(scene, run);
    expect(problems).toEqual([]);
    expect(run.writerAfter).not.toBe(killed);
  });

  it('loses nothing when a backup is SIGKILLed and restarted', async () => {
    const scene = await stage();
    let killed: NodeNumber | undefined;
    const run = await runGaleraFailover(scene, {
      scenario: 'galera: backup SIGKILLed',
      fault: async ({ cluster: nodes }) => {
        const writer = await writerNode();
        const backup = NODE_NUMBERS.find((node) => node !== writer) as NodeNumber;
        killed = backup;
        await nodes.kill(backup);
        await sleep(DOWN_MS);
        await nodes.start(backup);
      },
    });
    const { problems } = await reviewGaleraFailover(scene, run);
    expect(problems).toEqual([]);
    // Usually the writer stays; in some runs on a busy 2-core machine HAProxy took the writer
    // out while the backup died or rejoined and moved the writes to the live backup
    // (docs/galera.md). Never to the dead one.
    expect(run.writerAfter).toBeDefined();
    expect(run.writerAfter).not.toBe(killed);
  });

  it('loses nothing when the writer is frozen for 10 s, then resumed', async () => {
    const scene = await stage();
    let frozen: NodeNumber | undefined;
    const run = await runGaleraFailover(scene, {
      scenario: 'galera: writer frozen 10 s',
      fault: async ({ cluster: nodes }) => {
        frozen = await writerNode();
        nodes.freeze(frozen);
        await sleep(DOWN_MS);
        nodes.resume(frozen);
      },
    });
    const { problems } = await reviewGaleraFailover(scene, run);
    expect(problems).toEqual([]);
    expect(run.writerAfter).not.toBe(frozen);
  });

  it('takes turns when writes reach two nodes at once: one migration, one relay, every key once', async () => {
    // Two migrators of one new database, on two nodes at once.
    const database = `galera_migrations_${process.pid}`;
    const applied = await Promise.all(
      ([1, 2] as const).map((node) => migrate({ ...theCluster().node(node).server, database })),
    );
    const check = mysql.createPool({ ...theCluster().endpoint, database, connectionLimit: 1 });
    const [recorded] = await check.query<mysql.RowDataPacket[]>(
      'SELECT name, COUNT(*) AS times FROM schema_migration GROUP BY name ORDER BY name',
    );
    await check.query(`DROP DATABASE ${mysql.escapeId(database)}`);
    await check.end();
    printFigures('galera: two migrators on two nodes', {
      applied: applied.map((files) => files.length),
      recorded: recorded.length,
    });
    // One of them applied every file, the other found nothing left to apply.
    expect(applied.map((files) => files.length).sort()).toEqual([0, recorded.length]);
    expect(recorded.every((row) => Number(row['times']) === 1)).toBe(true);

    // A consumer on each of two nodes: both write, both run a relay.
    const scene = await stage({ consumers: [1, 2] });
    const run = await runGaleraFailover(scene, {
      scenario: 'galera: writes on two nodes',
      fault: () => sleep(10_000),
    });
    const { problems, figures } = await reviewGaleraFailover(scene, run);
    expect(problems).toEqual([]);
    expect(figures.samplesWithTwoLeaders).toBe(0);
  });
});
