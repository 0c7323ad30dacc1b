import { measureCell, settle, type Cell, type Durations, type Measurement } from './load';
import { createBacklog } from './backlog';
import { asyncPurchaseRequests, mixRequests, purchaseRequests, readRequests } from './scenarios';
import type { Target, Targets } from './targets';

interface MatrixSettings extends Durations {
  connections: readonly number[];
  runs: number;
  /** Subscriptions the mix cancels and restarts. */
  mixSubscriptionIds: readonly number[];
  /** CPU budgets of the capped database, each in turn; empty when it is not capped. */
  dbCpu: readonly number[];
}

/** How many warm-ups' worth of its load each design takes, unmeasured, before run 1. */
const SETTLE_WARMUPS = 5;

export class Interrupted extends Error {
  override name = 'Interrupted';
}

/**
 * Before the first run, each design takes a few warm-ups' worth of its first cell's load,
 * unmeasured. Every run measures, for each concurrency, our purchase, the baseline's purchase, our
 * asynchronous purchase and our mix, one after the other: drift on a noisy machine then hits
 * both sides of a ratio alike. With a capped database, each run goes through the budgets, and
 * for each measures the purchases of every design at each concurrency under that same cap.
 * Measuring what events cost, each run measures purchases only, our stack with and without
 * events in turns that swap from one run to the next: a cell pays for the background work the
 * cell before it left in the shared database and broker, and neither side should always pay.
 * Measuring what a provider's token costs, each run reads one subscription with each kind of
 * token, in the same turns. Measuring what tracing costs, each run measures purchases only,
 * tracing off, on and at 10%, in turns that rotate from one run to the next, for the same reason.
 */
export async function runMatrix(
  targets: Targets,
  settings: MatrixSettings,
  signal: AbortSignal,
  onMeasured: (measurement: Measurement, run: number) => void,
): Promise<Measurement[][]> {
  const settled = new Set<Target>();
  for (const cell of cellsOf(targets, settings, 1)) {
    if (settled.has(cell.target)) continue;
    settled.add(cell.target);
    if (cell.dbCpu !== undefined) await targets.cappedDatabase?.cap.limit(cell.dbCpu);
    await settle(cell, SETTLE_WARMUPS * settings.warmupSeconds, signal);
    if (signal.aborted) throw new Interrupted('interrupted');
  }
  const runs: Measurement[][] = [];
  for (let run = 1; run <= settings.runs; run += 1) {
    const measured: Measurement[] = [];
    for (const cell of cellsOf(targets, settings, run)) {
      if (signal.aborted) throw new Interrupted('interrupted');
      if (cell.dbCpu !== undefined) await targets.cappedDatabase?.cap.limit(cell.dbCpu);
      const measurement = await measureCell(cell, settings, signal);
      if (signal.aborted) throw new Interrupted('interrupted');
      measured.push(measurement);
      onMeasured(measurement, run);
    }
    runs.push(measured);
  }
  return runs;
}

function cellsOf(targets: Targets, settings: MatrixSettings, run: number): Cell[] {
  const { ours, oursWithoutEvents, oursWithProviderToken, baseline, cappedDatabase } = targets;
  /** The purchase cells of the designs there are (a design left out is undefined). */
  const purchases = (
    designs: (Target | undefined)[],
    connections: number,
    capped?: Pick<Cell, 'dbCpu' | 'databaseStatus'>,
  ): Cell[] =>
    designs
      .filter((target) => target !== undefined)
      .map((target) => ({
        scenario: 'purchase',
        target,
        connections,
        ...capped,
        requests: purchaseRequests(target.userIds),
      }));
  if (settings.dbCpu.length > 0) {
    const capped = (dbCpu: number) => ({ dbCpu, databaseStatus: cappedDatabase?.status });
    return settings.dbCpu.flatMap((dbCpu) =>
      settings.connections.flatMap((connections) =>
        purchases([ours, oursWithoutEvents, baseline], connections, capped(dbCpu)),
      ),
    );
  }
  if (oursWithProviderToken) {
    const pair = run % 2 === 1 ? [ours, oursWithProviderToken] : [oursWithProviderToken, ours];
    return settings.connections.flatMap((connections) =>
      pair.map((target) => ({
        scenario: 'get',
        target,
        connections,
        requests: readRequests('get', settings.mixSubscriptionIds),
      })),
    );
  }
  if (targets.traced) {
    // Tracing off, on and at 10%, the first of each run going last in the next.
    const { always, tenth } = targets.traced;
    const order = [ours, always, tenth];
    const turn = [...order.slice((run - 1) % 3), ...order.slice(0, (run - 1) % 3)];
    return settings.connections.flatMap((connections) => purchases(turn, connections));
  }
  if (oursWithoutEvents) {
    const pair = run % 2 === 1 ? [ours, oursWithoutEvents] : [oursWithoutEvents, ours];
    return settings.connections.flatMap((connections) =>
      purchases([...pair, baseline], connections),
    );
  }
  return settings.connections.flatMap((connections): Cell[] => {
    const backlog = createBacklog(ours.baseUrl, ours.headers);
    return [
      ...purchases([ours, baseline], connections),
      {
        scenario: 'async',
        target: ours,
        connections,
        requests: asyncPurchaseRequests(ours.userIds, (location) => backlog.accepted(location)),
        drain: (signal) => backlog.drain(signal),
      },
      {
        scenario: 'mix',
        target: ours,
        connections,
        requests: mixRequests(ours.userIds, settings.mixSubscriptionIds),
      },
    ];
  });
}
