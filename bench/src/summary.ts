import type { CpuAccount } from './cpu';
import type { Measurement } from './load';

/**
 * One cell over all runs, shaped as one run's measurement: medians of rates, latencies and CPU,
 * sums of counts.
 */
export interface CellSummary extends Measurement {
  runs: number;
}

/** Ours over the baseline for the purchase at one concurrency (and database budget). */
interface Ratio {
  connections: number;
  dbCpu?: number;
  /** Below 1: we answer fewer purchases per second than the plain API. */
  throughput: number | null;
  /** Above 1: our slowest answers are slower than the plain API's. */
  p99: number | null;
  /** CPU µs per answered purchase, by process (medians of the runs), ours and the baseline's. */
  cpu: { ours: CpuAccount; baseline: CpuAccount };
}

export interface Summary {
  cells: CellSummary[];
  ratios: Ratio[];
}

export function summarise(runs: readonly (readonly Measurement[])[]): Summary {
  const groups = new Map<string, Measurement[]>();
  for (const measurement of runs.flat()) {
    const key = `${measurement.scenario}/${measurement.phase ?? ''}/${measurement.target}/${measurement.connections}/${measurement.dbCpu ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), measurement]);
  }
  const cells = [...groups.values()].map(summariseCell);
  return { cells, ratios: ratiosOf(cells) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function summariseCell(measurements: Measurement[]): CellSummary {
  const first = measurements[0];
  if (!first) throw new Error('a cell without measurements');
  const medianOf = (pick: (measurement: Measurement) => number) => median(measurements.map(pick));
  const sumOf = (pick: (measurement: Measurement) => number) =>
    measurements.reduce((sum, measurement) => sum + pick(measurement), 0);
  return {
    scenario: first.scenario,
    ...(first.phase !== undefined && { phase: first.phase }),
    target: first.target,
    connections: first.connections,
    ...(first.dbCpu !== undefined && { dbCpu: first.dbCpu }),
    runs: measurements.length,
    requestsPerSecond: medianOf((m) => m.requestsPerSecond),
    latencyMs: {
      p50: medianOf((m) => m.latencyMs.p50),
      p90: medianOf((m) => m.latencyMs.p90),
      p99: medianOf((m) => m.latencyMs.p99),
    },
    statusCounts: sumCounts(measurements.map((m) => m.statusCounts)),
    unexpected: sumOf((m) => m.unexpected),
    errors: sumOf((m) => m.errors),
    timeouts: sumOf((m) => m.timeouts),
    cpuMicrosPerRequest: medianAccount(measurements.map((m) => m.cpuMicrosPerRequest)),
    ...(first.drainMs === undefined ? {} : { drainMs: medianOf((m) => m.drainMs ?? Number.NaN) }),
    ...(measurements.some((m) => m.meanBatch !== undefined) && {
      meanBatch: {
        commands: median(measurements.flatMap((m) => (m.meanBatch ? [m.meanBatch.commands] : []))),
        ms: median(measurements.flatMap((m) => (m.meanBatch ? [m.meanBatch.ms] : []))),
      },
    }),
    ...(first.databaseWork && {
      databaseWork: medianAccount(measurements.map((m) => m.databaseWork ?? {})),
    }),
    ...(first.eventDelayMs && {
      eventDelayMs: {
        events: sumOf((m) => m.eventDelayMs?.events ?? 0),
        p50: medianOf((m) => m.eventDelayMs?.p50 ?? Number.NaN),
        p99: medianOf((m) => m.eventDelayMs?.p99 ?? Number.NaN),
      },
    }),
  };
}

function sumCounts(counts: readonly Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const byStatus of counts) {
    for (const [status, count] of Object.entries(byStatus))
      total[status] = (total[status] ?? 0) + count;
  }
  return total;
}

function medianAccount(accounts: readonly CpuAccount[]): CpuAccount {
  const names = [...new Set(accounts.flatMap((account) => Object.keys(account)))];
  return Object.fromEntries(
    names.map((name) => [
      name,
      median(accounts.flatMap((account) => (name in account ? [account[name] as number] : []))),
    ]),
  );
}

function ratiosOf(cells: readonly CellSummary[]): Ratio[] {
  const purchases = cells.filter((cell) => cell.scenario === 'purchase');
  const pairs = new Map<string, { ours?: CellSummary; baseline?: CellSummary }>();
  for (const cell of purchases) {
    if (cell.target !== 'ours' && cell.target !== 'baseline') continue;
    const key = `${cell.dbCpu ?? ''}/${cell.connections}`;
    pairs.set(key, { ...pairs.get(key), [cell.target]: cell });
  }
  return [...pairs.values()].flatMap(({ ours, baseline }) =>
    ours && baseline
      ? [
          {
            connections: ours.connections,
            ...(ours.dbCpu !== undefined && { dbCpu: ours.dbCpu }),
            throughput: divide(ours.requestsPerSecond, baseline.requestsPerSecond),
            p99: divide(ours.latencyMs.p99, baseline.latencyMs.p99),
            cpu: { ours: ours.cpuMicrosPerRequest, baseline: baseline.cpuMicrosPerRequest },
          },
        ]
      : [],
  );
}

function divide(numerator: number, denominator: number): number | null {
  return denominator > 0 ? numerator / denominator : null;
}
