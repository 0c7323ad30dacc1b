import dotenv from 'dotenv';
import { createCleanup, type Cleanup } from '../../test-support/cleanup';
import { renderChart } from './chart';
import { renderCurveChart } from './curve-chart';
import type { Measurement } from './load';
import { runDataGrowth } from './data-growth';
import { Interrupted, runMatrix } from './matrix';
import { HELP, parseOptions, UsageError, type BenchOptions } from './options';
import { renderGrowthReport, renderReport } from './report';
import { describeMachine, describeRevision, describeSettings, writeResults } from './results-file';
import { seedSubscriptions } from './seed-subscriptions';
import { summarise, type Summary } from './summary';
import { prepareTargets, type Targets } from './targets';
import { countKeySetFetches, timeVerifications, type TokenIssuer } from './token-cost';

async function main(): Promise<number> {
  dotenv.config({ quiet: true });
  let options: BenchOptions | null;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}\nSee npm run bench -- --help`);
    return 2;
  }
  if (!options) {
    console.log(HELP);
    return 0;
  }

  const abort = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    if (!abort.signal.aborted) console.error(`\nbench: ${signal}: stopping and cleaning up`);
    abort.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  const cleanup = createCleanup();
  let code = 0;
  try {
    await benchmark(options, cleanup, abort.signal);
  } catch (error) {
    code = error instanceof Interrupted || abort.signal.aborted ? 130 : 1;
    if (code === 1) {
      console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    }
  } finally {
    const failures = await cleanup.releaseAll();
    for (const failure of failures) console.error(`bench: cleaning up: ${failure}`);
    if (failures.length > 0 && code === 0) code = 1;
  }
  return code;
}

async function benchmark(
  options: BenchOptions,
  cleanup: Cleanup,
  signal: AbortSignal,
): Promise<void> {
  const startedAt = new Date();
  console.log(describePlan(options));
  const targets = await prepareTargets(options, cleanup);
  if (signal.aborted) throw new Interrupted('interrupted');
  console.log(
    `ours: ${targets.ours.baseUrl}${targets.baseline ? `, baseline: ${targets.baseline.baseUrl}` : ''}`,
  );
  const mixSubscriptionIds = await seedSubscriptions(targets.ours, options.subscriptions);
  if (options.preload > 0 || options.purgeRows > 0) {
    await measureDataGrowth(options, targets, startedAt, signal);
    return;
  }

  if (targets.tokenIssuer) {
    await measureTokenCost(
      options,
      targets,
      targets.tokenIssuer,
      mixSubscriptionIds,
      startedAt,
      signal,
    );
    return;
  }

  const runs = await runMatrix(
    targets,
    { ...options, mixSubscriptionIds, dbCpu: options.dbCpu },
    signal,
    (measurement, run) => console.log(describeMeasurement(measurement, run, options.runs)),
  );
  const summary = summarise(runs);
  console.log(`\n${renderReport(summary, options.runs)}\n`);
  const traceExports = targets.traced?.receiver.requests();
  if (traceExports) {
    console.log(
      `The OTLP receiver took ${traceExports.protobuf} protobuf requests, ${Math.round(traceExports.bytes / 1024)} KiB of spans\n`,
    );
  }
  for (const warning of warningsAbout(summary, options)) console.warn(`warning: ${warning}`);

  const machine = describeMachine(targets.serverVersion);
  const capped = options.dbCpu.length > 0;
  const written = await writeResults(
    {
      revision: await describeRevision(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      settings: describeSettings(options),
      summary,
      runs,
      ...(traceExports && { traceExports }),
    },
    options.tracingCost
      ? null
      : capped
        ? renderCurveChart(summary, chartCaption(options, targets, machine.cpus, startedAt))
        : renderChart(summary, chartCaption(options, targets, machine.cpus, startedAt)),
    { writeDocs: options.writeDocs, name: resultsName(options) },
  );
  console.log(`wrote ${written.join(', ')}`);
}

/**
 * `--token-cost`: reads with each kind of token, then the key-set fetches of a rotation and of
 * unknown kids; docs/bench/token-cost.json keeps both.
 */
async function measureTokenCost(
  options: BenchOptions,
  targets: Targets,
  tokenIssuer: TokenIssuer,
  mixSubscriptionIds: number[],
  startedAt: Date,
  signal: AbortSignal,
): Promise<void> {
  const runs = await runMatrix(
    targets,
    { ...options, mixSubscriptionIds, dbCpu: [] },
    signal,
    (measurement, run) => console.log(describeMeasurement(measurement, run, options.runs)),
  );
  const summary = summarise(runs);
  console.log(`\n${renderReport(summary, options.runs)}\n`);
  const verificationCost = await timeVerifications(tokenIssuer);
  console.log(
    `One verification alone, medians of 5 turns of ${verificationCost.verifications}: HS256 ${verificationCost.hs256.cpuMicros} µs of CPU (${verificationCost.hs256.wallMicros} µs wall), RS256 ${verificationCost.rs256.cpuMicros} µs of CPU (${verificationCost.rs256.wallMicros} µs wall)`,
  );
  const keySetFetches = await countKeySetFetches(targets.ours.baseUrl, tokenIssuer.keySet, (line) =>
    console.log(line),
  );
  console.log(
    [
      'Key-set fetches made by the producer:',
      `  a rotation (a new key, 50 requests signed with it): ${keySetFetches.rotation}`,
      `  ${keySetFetches.burstSize} unknown kids within the cooldown: ${keySetFetches.burstWithinCooldown}`,
      `  ${keySetFetches.burstSize} unknown kids after it: ${keySetFetches.burstAfterCooldown}`,
    ].join('\n'),
  );
  for (const warning of warningsAbout(summary, options)) console.warn(`warning: ${warning}`);
  const written = await writeResults(
    {
      revision: await describeRevision(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: describeMachine(targets.serverVersion),
      settings: describeSettings(options),
      summary,
      runs,
      verificationCost,
      keySetFetches,
    },
    null,
    { writeDocs: options.writeDocs, name: 'token-cost' },
  );
  console.log(`wrote ${written.join(', ')}`);
}

/** The name of the figures under docs/bench/: each mode keeps its own. */
function resultsName(options: Pick<BenchOptions, 'dbCpu' | 'eventsCost' | 'tracingCost'>): string {
  if (options.dbCpu.length > 0) return 'db-cpu';
  if (options.tracingCost) return 'tracing-cost';
  return options.eventsCost ? 'events-cost' : 'latest';
}

/** `--preload` / `--purge-rows`: the same stack empty and full, and beside its purge. */
async function measureDataGrowth(
  options: BenchOptions,
  targets: Targets,
  startedAt: Date,
  signal: AbortSignal,
): Promise<void> {
  const growth = await runDataGrowth(
    targets.ours,
    options,
    signal,
    (measurement, run) => console.log(describeMeasurement(measurement, run, options.runs)),
    (line) => console.log(line),
  );
  const summary = summarise([growth.measurements]);
  console.log(`\n${renderGrowthReport(summary, growth, options.runs)}\n`);
  const written = await writeResults(
    {
      revision: await describeRevision(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: describeMachine(targets.serverVersion),
      settings: describeSettings(options),
      summary,
      runs: [growth.measurements],
      preloaded: growth.preloaded,
      purges: growth.purges,
    },
    null,
    { writeDocs: options.writeDocs, name: 'data-growth' },
  );
  console.log(`wrote ${written.join(', ')}`);
}

function describePlan(options: BenchOptions): string {
  const designs =
    1 +
    (options.baseline ? 1 : 0) +
    (options.eventsCost ? 1 : 0) +
    (options.tokenCost ? 1 : 0) +
    (options.tracingCost ? 2 : 0);
  // Data growth: six cells in each of one or two phases, two more beside each purge.
  const growthCells = 6 * (options.preload > 0 ? 2 : 1) + (options.purgeRows > 0 ? 2 : 0);
  const perRun =
    options.preload + options.purgeRows > 0
      ? options.connections.length * growthCells
      : options.dbCpu.length > 0
        ? options.dbCpu.length * options.connections.length * designs
        : options.connections.length *
          (designs + (options.tokenCost || options.tracingCost ? 0 : 2));
  const seconds = perRun * options.runs * (options.durationSeconds + options.warmupSeconds);
  return [
    `bench: ${options.spawn ? 'spawning a scratch stack' : `driving ${options.baseUrl}`}`,
    ...(options.dbCpu.length > 0
      ? [`database capped at ${options.dbCpu.join(', ')} core(s) in turn`]
      : []),
    ...(options.preload > 0 ? [`${options.preload} subscriptions preloaded half way`] : []),
    `connections ${options.connections.join(',')}`,
    `${options.durationSeconds} s per cell after ${options.warmupSeconds} s of warm-up`,
    `${options.runs} run(s), about ${seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`} of load`,
  ].join('; ');
}

function describeMeasurement(measurement: Measurement, run: number, runs: number): string {
  const { scenario, target, connections, requestsPerSecond, latencyMs, dbCpu, phase } = measurement;
  const troubled = measurement.unexpected + measurement.errors + measurement.timeouts > 0;
  return [
    `run ${run}/${runs}`,
    ...(dbCpu === undefined ? [] : [`db ${dbCpu} core`]),
    ...(phase === undefined ? [] : [phase.padEnd(9)]),
    scenario.padEnd(11),
    target.padEnd(15),
    `conn ${String(connections).padStart(3)}`,
    `${requestsPerSecond.toFixed(1).padStart(8)} req/s`,
    `p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms`,
    ...(troubled ? ['(unexpected answers or errors: see the table)'] : []),
  ].join('  ');
}

function warningsAbout(summary: Summary, options: BenchOptions): string[] {
  const warnings: string[] = [];
  const total = (status: string) =>
    summary.cells.reduce((sum, cell) => sum + (cell.statusCounts[status] ?? 0), 0);
  if (total('429') > 0) {
    warnings.push(
      `${total('429')} answers were 429: the producer's rate limit is on; run it with RATE_LIMIT_PER_MINUTE=0`,
    );
  }
  if (total('401') > 0) {
    warnings.push(
      `${total('401')} answers were 401: set BEARER_TOKEN to a token the producer accepts, or AUTH_JWT_SECRET to its secret`,
    );
  }
  if (total('422') > 0 && !options.spawn) {
    warnings.push(`${total('422')} answers were 422: --user-ids names users that do not exist`);
  }
  if (summary.cells.some((cell) => cell.errors + cell.timeouts > 0)) {
    warnings.push(
      'some requests failed without an answer (errors/timeouts): the figures understate the load',
    );
  }
  return warnings;
}

function chartCaption(options: BenchOptions, targets: Targets, cpus: number, date: Date): string {
  return [
    `Medians of ${options.runs} run${options.runs === 1 ? '' : 's'}, ${options.durationSeconds} s per cell`,
    date.toISOString().slice(0, 10),
    options.dbCpu.length > 0
      ? `private capped database, ${options.dbBufferPool} pool, durable commits; ${cpus} CPUs for the rest`
      : `${cpus} CPUs shared by everything`,
    `Node ${process.version}`,
    targets.serverVersion ? shortServerName(targets.serverVersion) : 'database unknown',
  ].join(' · ');
}

/** `10.11.19-MariaDB-0+deb12u1` reads as `MariaDB 10.11.19`; MySQL reports its number alone. */
function shortServerName(version: string): string {
  const number = version.split('-')[0] ?? version;
  return `${version.includes('MariaDB') ? 'MariaDB' : 'MySQL'} ${number}`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench: failed:', error);
    process.exit(1);
  },
);
