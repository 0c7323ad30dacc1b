import autocannon from 'autocannon';
import { watchBatches } from './consumer-batches';
import { startCpuAccount, type CpuAccount } from './cpu';
import type { DatabaseStatus, DatabaseWork } from './database-status';
import type { EventDelays } from './event-watch';
import { EXPECTED_STATUSES, type ScenarioName } from './scenarios';
import type { Target, TargetName } from './targets';

/** Past the producer's RPC deadline (10 s): a slow answer shows as its 504, not as a timeout. */
const REQUEST_TIMEOUT_SECONDS = 30;

/** What one cell of the matrix measured: one scenario, one target, one concurrency, one run. */
export interface Measurement {
  scenario: ScenarioName;
  /** Where a data-growth run was (`empty`, `preloaded`, `no purge`, `purging`). */
  phase?: string;
  target: TargetName;
  connections: number;
  /** The database's CPU budget in cores, when it was capped (`--db-cpu`). */
  dbCpu?: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number };
  /** Answers by HTTP status. */
  statusCounts: Record<string, number>;
  /** Answers whose status the scenario does not expect (see EXPECTED_STATUSES). */
  unexpected: number;
  /** Connection errors other than timeouts. */
  errors: number;
  timeouts: number;
  /** Microseconds of CPU per answered request, by process (see cpu.ts). */
  cpuMicrosPerRequest: CpuAccount;
  /** Asynchronous cells: ms from the end of the load until the last accepted command completed. */
  drainMs?: number;
  /** When the target's events are watched: how late they arrived during the measured load. */
  eventDelayMs?: EventDelays;
  /** On the bench's own database (`--db-cpu`): its work per answered request. */
  databaseWork?: DatabaseWork;
  /** The consumer's batches on average (commands, ms each), when its metrics are known. */
  meanBatch?: { commands: number; ms: number };
}

export interface Cell {
  scenario: ScenarioName;
  phase?: string;
  target: Target;
  connections: number;
  dbCpu?: number;
  /** The database's counters, when the bench has the server to itself. */
  databaseStatus?: DatabaseStatus;
  requests: autocannon.Request[];
  /** Waits for what the load left behind (an asynchronous backlog) and says how long it took. */
  drain?: (signal: AbortSignal) => Promise<number>;
}

export interface Durations {
  durationSeconds: number;
  warmupSeconds: number;
}

/**
 * Unmeasured load a design takes once, before its first cell: a stack just started answered its
 * first measured cell 20-35% slower than the same cell a run later (a new database's pages, the
 * broker's new queues, code not yet optimised), which the short warm-up of each cell left in.
 */
export async function settle(cell: Cell, seconds: number, signal: AbortSignal): Promise<void> {
  if (seconds > 0) await fire(cell, seconds, signal);
}

/** A short unmeasured burst first (JIT, pools, connections), then the measured run. */
export async function measureCell(
  cell: Cell,
  durations: Durations,
  signal: AbortSignal,
): Promise<Measurement> {
  if (durations.warmupSeconds > 0) await fire(cell, durations.warmupSeconds, signal);
  const cpu = await startCpuAccount(cell.target.cpu);
  cell.target.events?.start();
  await cell.databaseStatus?.start();
  const batches = cell.target.consumerMetricsUrl
    ? await watchBatches(cell.target.consumerMetricsUrl)
    : undefined;
  const result = await fire(cell, durations.durationSeconds, signal);
  const eventDelayMs = cell.target.events?.stop();
  const answered = Object.values(result.statusCodeStats ?? {}).reduce(
    (sum, stats) => sum + (stats.count ?? 0),
    0,
  );
  const databaseWork = await cell.databaseStatus?.stop(answered);
  const meanBatch = await batches?.means();
  const measurement = {
    ...toMeasurement(cell, result, await cpu.charge(answered)),
    ...(eventDelayMs && { eventDelayMs }),
    ...(databaseWork && { databaseWork }),
    ...(meanBatch !== undefined && { meanBatch }),
  };
  // Before the next cell: a backlog still draining would take from its measurement.
  return cell.drain ? { ...measurement, drainMs: await cell.drain(signal) } : measurement;
}

function fire(cell: Cell, seconds: number, signal: AbortSignal): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: cell.target.baseUrl,
        connections: cell.connections,
        duration: seconds,
        timeout: REQUEST_TIMEOUT_SECONDS,
        headers: cell.target.headers,
        requests: cell.requests,
      },
      // autocannon calls back with an Error or null (its types say `any`).
      (error: Error | null, result) => {
        signal.removeEventListener('abort', stop);
        if (error) reject(error);
        else resolve(result);
      },
    );
    // Ends the run early with what it has; the caller sees the signal and stops.
    function stop(): void {
      instance.stop();
    }
    signal.addEventListener('abort', stop, { once: true });
  });
}

function toMeasurement(cell: Cell, result: autocannon.Result, cpu: CpuAccount): Measurement {
  const statusCounts: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[status] = stats.count ?? 0;
  }
  const expected = EXPECTED_STATUSES[cell.scenario];
  const unexpected = Object.entries(statusCounts)
    .filter(([status]) => !expected.has(Number(status)))
    .reduce((sum, [, count]) => sum + count, 0);
  return {
    scenario: cell.scenario,
    ...(cell.phase !== undefined && { phase: cell.phase }),
    target: cell.target.name,
    connections: cell.connections,
    ...(cell.dbCpu !== undefined && { dbCpu: cell.dbCpu }),
    requestsPerSecond: result.requests.average,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99 },
    statusCounts,
    unexpected,
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    cpuMicrosPerRequest: cpu,
  };
}
