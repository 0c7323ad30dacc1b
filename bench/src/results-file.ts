import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { format, resolveConfig } from 'prettier';
import type { Measurement } from './load';
import type { BenchOptions } from './options';
import { REPO_ROOT } from './paths';
import type { Summary } from './summary';
import type { KeySetFetches, VerificationCost } from './token-cost';

/** Where the figures come from: they mean little without the machine and the settings. */
interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverageAtStart: number[];
  databaseServer: string | undefined;
}

interface ResultsDocument {
  /** The commit measured, `+ changes` when the working tree differed from it. */
  revision: string;
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  settings: Record<string, unknown>;
  summary: Summary;
  runs: Measurement[][];
  /** Data growth: what the preload added, and each purge that ran beside a cell. */
  preloaded?: { subscriptions: number; events: number; records: number } | undefined;
  purges?: { rows: number; ms: number }[];
  /** Token kinds: one verification alone, and the key-set fetches of a rotation and bursts. */
  verificationCost?: VerificationCost;
  keySetFetches?: KeySetFetches;
}

export function describeMachine(databaseServer: string | undefined): Machine {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((load) => Number(load.toFixed(2))),
    databaseServer,
  };
}

export async function describeRevision(): Promise<string> {
  const git = (...args: string[]) =>
    promisify(execFile)('git', args, { cwd: REPO_ROOT }).then(({ stdout }) => stdout.trim());
  try {
    const [commit, changes] = await Promise.all([
      git('rev-parse', '--short', 'HEAD'),
      git('status', '--porcelain', '--untracked-files=no'),
    ]);
    return changes === '' ? commit : `${commit} + changes`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function describeSettings(options: BenchOptions): Record<string, unknown> {
  return {
    target: options.spawn ? 'spawned scratch stack' : options.baseUrl,
    baseline: options.baseline,
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    warmupSeconds: options.warmupSeconds,
    runs: options.runs,
    users: options.spawn ? options.users : options.userIds,
    mixSubscriptions: options.subscriptions,
    baselinePool: options.baselinePool,
    consumerSettings: options.spawn ? options.consumerSettings : 'as deployed',
    eventsCost: options.eventsCost,
    tokenCost: options.tokenCost,
    tracingCost: options.tracingCost,
    ...(options.preload + options.purgeRows > 0 && {
      preload: options.preload,
      purgeRows: options.purgeRows,
    }),
    ...(options.dbCpu.length > 0 && {
      dbCpu: options.dbCpu,
      dbBufferPool: options.dbBufferPool,
    }),
  };
}

/**
 * bench-results/bench-<timestamp>.json always; docs/bench/<name>.json and <name>.svg unless told
 * not to (`latest` for the usual matrix, `db-cpu` for the capped database's curve, `events-cost`
 * for the stacks with and without events). The JSON goes through Prettier so that the
 * repository's format check accepts it.
 */
export async function writeResults(
  document: ResultsDocument,
  svg: string | null,
  options: { writeDocs: boolean; name: string },
): Promise<string[]> {
  const { writeDocs, name } = options;
  const json = await format(JSON.stringify(document), {
    ...(await resolveConfig(path.join(REPO_ROOT, `docs/bench/${name}.json`))),
    parser: 'json',
  });
  const stamp = document.startedAt.replace(/[:.]/g, '-');
  const files: [string, string][] = [[`bench-results/bench-${stamp}.json`, json]];
  if (writeDocs) files.push([`docs/bench/${name}.json`, json]);
  if (writeDocs && svg !== null) files.push([`docs/bench/${name}.svg`, svg]);
  for (const [file, content] of files) {
    await mkdir(path.dirname(path.join(REPO_ROOT, file)), { recursive: true });
    await writeFile(path.join(REPO_ROOT, file), content);
  }
  return files.map(([file]) => file);
}
