import { measureCell, type Cell, type Durations, type Measurement } from './load';
import { createBacklog } from './backlog';
import { asyncPurchaseRequests, mixRequests, purchaseRequests } from './scenarios';
import type { Targets } from './targets';

export interface MatrixSettings extends Durations {
  connections: readonly number[];
  runs: number;
  /** Subscriptions the mix cancels and restarts. */
  mixSubscriptionIds: readonly number[];
  /** CPU budgets of the capped database, each in turn; empty when it is not capped. */
  dbCpu: readonly number[];
}

export class Interrupted extends Error {
  override name = 'Interrupted';
}

/**
 * Every run measures, for each concurrency, our purchase, the baseline's purchase, our
 * asynchronous purchase and our mix, one after the other: drift on a noisy machine then hits
 * both sides of a ratio alike. With a capped database, each run goes through the budgets, and
 * for each measures the purchases of every design at each concurrency under that same cap.
 */
export async function runMatrix(
  targets: Targets,
  settings: MatrixSettings,
  signal: AbortSignal,
  onMeasured: (measurement: Measurement, run: number) => void,
): Promise<Measurement[][]> {
  const runs: Measurement[][] = [];
  for (let run = 1; run <= settings.runs; run += 1) {
    const measured: Measurement[] = [];
    for (const cell of cellsOf(targets, settings)) {
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

function cellsOf(targets: Targets, settings: MatrixSettings): Cell[] {
  if (settings.dbCpu.length > 0) {
    const designs = [targets.ours, targets.oursWithoutEvents, targets.baseline].filter(
      (target) => target !== undefined,
    );
    return settings.dbCpu.flatMap((dbCpu) =>
      settings.connections.flatMap((connections) =>
        designs.map((target): Cell => ({
          scenario: 'purchase',
          target,
          connections,
          dbCpu,
          databaseStatus: targets.cappedDatabase?.status,
          requests: purchaseRequests(target.userIds),
        })),
      ),
    );
  }
  return settings.connections.flatMap((connections) => {
    const { ours, baseline } = targets;
    const cells: Cell[] = [
      { scenario: 'purchase', target: ours, connections, requests: purchaseRequests(ours.userIds) },
    ];
    if (targets.oursWithoutEvents) {
      const withoutEvents = targets.oursWithoutEvents;
      cells.push({
        scenario: 'purchase',
        target: withoutEvents,
        connections,
        requests: purchaseRequests(withoutEvents.userIds),
      });
    }
    if (baseline) {
      cells.push({
        scenario: 'purchase',
        target: baseline,
        connections,
        requests: purchaseRequests(baseline.userIds),
      });
    }
    const backlog = createBacklog(ours.baseUrl, ours.headers);
    cells.push({
      scenario: 'async',
      target: ours,
      connections,
      requests: asyncPurchaseRequests(ours.userIds, (location) => backlog.accepted(location)),
      drain: (signal) => backlog.drain(signal),
    });
    cells.push({
      scenario: 'mix',
      target: ours,
      connections,
      requests: mixRequests(ours.userIds, settings.mixSubscriptionIds),
    });
    return cells;
  });
}
