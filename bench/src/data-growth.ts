import { performance } from 'node:perf_hooks';
import { createDatabasePool, createSubscriptionRepository } from '@subscriptions/store';
import mysql from 'mysql2/promise';
import type { MysqlServer } from '../../test-support/database';
import { purgeExpired } from '../../consumer/src/subscriptions/purge';
import { type Cell, type Durations, measureCell, type Measurement } from './load';
import { Interrupted } from './matrix';
import { preloadDatabase } from './preload';
import { purchaseRequests, READ_SCENARIOS, readRequests } from './scenarios';
import type { Target } from './targets';

/** How long the consumer keeps command records by default (PROCESSED_RETENTION_HOURS). */
const RETENTION_MS = 24 * 3_600_000;

interface GrowthSettings extends Durations {
  connections: readonly number[];
  runs: number;
  /** Subscriptions (with their events and records) added between the two phases. */
  preload: number;
  /** Command records past the retention, preloaded before each purge measurement. */
  purgeRows: number;
}

/** What one purge removed while a purchase cell ran beside it. */
interface PurgeRun {
  rows: number;
  ms: number;
}

interface GrowthResults {
  measurements: Measurement[];
  preloaded: { subscriptions: number; events: number; records: number } | undefined;
  purges: PurgeRun[];
}

/**
 * Data that grows: the purchase and the reads measured on the scratch database as it starts
 * (phase `empty`), then again once `preload` subscriptions fill it (phase `preloaded`). Then,
 * with `purgeRows` expired command records added before each run, purchases alone (`no purge`)
 * and with the consumer's purge removing them at the same time (`purging`).
 */
export async function runDataGrowth(
  ours: Target,
  settings: GrowthSettings,
  signal: AbortSignal,
  onMeasured: (measurement: Measurement, run: number) => void,
  log: (line: string) => void,
): Promise<GrowthResults> {
  const database = ours.database;
  if (!database) throw new Error('--preload fills the scratch database: it needs --spawn');
  const measurements: Measurement[] = [];
  const measure = async (cell: Cell, run: number) => {
    if (signal.aborted) throw new Interrupted('interrupted');
    const measurement = await measureCell(cell, settings, signal);
    measurements.push(measurement);
    onMeasured(measurement, run);
    return measurement;
  };
  const measurePhase = async (phase: string) => {
    const ids = await sampleSubscriptionIds(database);
    for (let run = 1; run <= settings.runs; run += 1) {
      for (const connections of settings.connections) {
        await measure(
          {
            scenario: 'purchase',
            phase,
            target: ours,
            connections,
            requests: purchaseRequests(ours.userIds),
          },
          run,
        );
        for (const scenario of READ_SCENARIOS) {
          await measure(
            { scenario, phase, target: ours, connections, requests: readRequests(scenario, ids) },
            run,
          );
        }
      }
    }
  };

  await measurePhase('empty');
  let preloaded: GrowthResults['preloaded'];
  if (settings.preload > 0) {
    preloaded = await preloadDatabase(database, {
      subscriptions: settings.preload,
      users: ours.userIds,
      expiredRecords: 0,
      retentionMs: RETENTION_MS,
      log,
    });
    await measurePhase('preloaded');
  }

  const purges: PurgeRun[] = [];
  if (settings.purgeRows > 0) {
    const pool = createDatabasePool({
      ...database.server,
      database: database.name,
      connectionLimit: 1,
    });
    try {
      const repository = createSubscriptionRepository(pool);
      for (let run = 1; run <= settings.runs; run += 1) {
        await preloadDatabase(database, {
          subscriptions: 0,
          users: ours.userIds,
          expiredRecords: settings.purgeRows,
          retentionMs: RETENTION_MS,
          log,
        });
        for (const connections of settings.connections) {
          const cell = (phase: string): Cell => ({
            scenario: 'purchase',
            phase,
            target: ours,
            connections,
            requests: purchaseRequests(ours.userIds),
          });
          await measure(cell('no purge'), run);
          // The purge starts with the measured load (after the warm-up) and runs beside it.
          const started = performance.now() + settings.warmupSeconds * 1000;
          let timer: NodeJS.Timeout | undefined;
          let begun = false;
          const purge = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, settings.warmupSeconds * 1000);
          }).then(() => {
            begun = true;
            return purgeExpired(repository, new Date(Date.now() - RETENTION_MS));
          });
          try {
            await measure(cell('purging'), run);
          } catch (error) {
            // Not begun: it never will. Begun: it ends before its pool closes.
            clearTimeout(timer);
            if (begun) await purge.catch(() => undefined);
            throw error;
          }
          const rows = await purge;
          purges.push({ rows, ms: Math.round(performance.now() - started) });
          log(`purge: ${rows} rows in ${purges.at(-1)?.ms} ms`);
        }
      }
    } finally {
      await pool.end();
    }
  }
  return { measurements, preloaded, purges };
}

/** How many existing subscriptions the reads pick from. */
const SAMPLE = 20_000;

/**
 * Ids of subscriptions the database holds now, drawn at random over all of them (auto-increment
 * leaves gaps, so not every id in the range exists).
 */
async function sampleSubscriptionIds(database: {
  server: MysqlServer;
  name: string;
}): Promise<number[]> {
  const connection = await mysql.createConnection({ ...database.server, database: database.name });
  try {
    const [[range]] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT MIN(id) AS first, MAX(id) AS last FROM subscription',
    );
    const first = Number(range?.['first'] ?? 1);
    const last = Number(range?.['last'] ?? 1);
    const candidates = Array.from(
      { length: SAMPLE },
      () => first + Math.floor(Math.random() * (last - first + 1)),
    );
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT id FROM subscription WHERE id IN (?)',
      [candidates],
    );
    return rows.map((row) => Number(row['id']));
  } finally {
    await connection.end();
  }
}
