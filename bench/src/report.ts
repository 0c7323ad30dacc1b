import { EXPECTED_STATUSES } from './scenarios';
import type { CellSummary, Summary } from './summary';

/** The tables printed at the end: every cell, ours over the baseline, then each mode's own. */
export function renderReport(summary: Summary, runs: number): string {
  const sections = [
    `Medians of ${runs} run${runs === 1 ? '' : 's'}; status, error and timeout counts are totals over all runs.`,
    renderCells(summary.cells),
  ];
  if (summary.ratios.length > 0) sections.push(renderRatios(summary));
  const asynchronous = renderAsync(summary.cells);
  if (asynchronous) sections.push(asynchronous);
  const events = renderEvents(summary.cells);
  if (events) sections.push(events);
  const tokens = renderTokenKinds(summary.cells);
  if (tokens) sections.push(tokens);
  const tracing = renderTracing(summary.cells);
  if (tracing) sections.push(tracing);
  const work = renderDatabaseWork(summary.cells);
  if (work) sections.push(work);
  const cpu = renderCpu(summary.cells);
  if (cpu) sections.push(cpu);
  return sections.join('\n\n');
}

/** Data growth: each cell empty and full side by side, then purchases beside the purge. */
export function renderGrowthReport(
  summary: Summary,
  growth: {
    preloaded?: { subscriptions: number; events: number; records: number } | undefined;
    purges: { rows: number; ms: number }[];
  },
  runs: number,
): string {
  const sections = [`Medians of ${runs} run${runs === 1 ? '' : 's'}.`, renderCells(summary.cells)];
  const find = (scenario: string, phase: string, connections: number) =>
    summary.cells.find(
      (cell) =>
        cell.scenario === scenario && cell.phase === phase && cell.connections === connections,
    );
  if (growth.preloaded) {
    const { subscriptions, events, records } = growth.preloaded;
    const empties = summary.cells.filter((cell) => cell.phase === 'empty');
    const table = formatTable(
      [
        'scenario',
        'conn',
        'empty req/s',
        'p50',
        'p99',
        'full req/s',
        'p50',
        'p99',
        'req/s full/empty',
        'p99 full/empty',
      ],
      empties.map((empty) => {
        const full = find(empty.scenario, 'preloaded', empty.connections);
        return [
          empty.scenario,
          String(empty.connections),
          empty.requestsPerSecond.toFixed(1),
          formatMs(empty.latencyMs.p50),
          formatMs(empty.latencyMs.p99),
          full ? full.requestsPerSecond.toFixed(1) : '-',
          full ? formatMs(full.latencyMs.p50) : '-',
          full ? formatMs(full.latencyMs.p99) : '-',
          full ? formatRatio(full.requestsPerSecond / empty.requestsPerSecond) : '-',
          full ? formatRatio(full.latencyMs.p99 / empty.latencyMs.p99) : '-',
        ];
      }),
      'lrrrrrrrrr',
    );
    sections.push(
      `Data growth: the same requests on the database as it started and with ${subscriptions} subscriptions, ${events} events and ${records} command records in it\n${table}`,
    );
  }
  const quiet = summary.cells.filter((cell) => cell.phase === 'no purge');
  if (quiet.length > 0) {
    const table = formatTable(
      ['conn', 'p99 without purge', 'p99 purging', 'ratio', 'req/s without', 'req/s purging'],
      quiet.map((cell) => {
        const purging = find('purchase', 'purging', cell.connections);
        return [
          String(cell.connections),
          formatMs(cell.latencyMs.p99),
          purging ? formatMs(purging.latencyMs.p99) : '-',
          purging ? formatRatio(purging.latencyMs.p99 / cell.latencyMs.p99) : '-',
          cell.requestsPerSecond.toFixed(1),
          purging ? purging.requestsPerSecond.toFixed(1) : '-',
        ];
      }),
      'rrrrrr',
    );
    const purged = growth.purges.map(
      ({ rows, ms }) => `${rows} rows in ${(ms / 1000).toFixed(1)} s`,
    );
    sections.push(
      `Purchases beside the purge of expired command records (${purged.join('; ')})\n${table}`,
    );
  }
  return sections.join('\n\n');
}

function renderCells(cells: readonly CellSummary[]): string {
  // The budget column only says something when the database was capped.
  const capped = cells.some((cell) => cell.dbCpu !== undefined);
  const phased = cells.some((cell) => cell.phase !== undefined);
  const rows = cells.map((cell) => [
    ...(capped ? [String(cell.dbCpu ?? '-')] : []),
    ...(phased ? [cell.phase ?? '-'] : []),
    cell.scenario,
    cell.target,
    String(cell.connections),
    cell.requestsPerSecond.toFixed(1),
    formatMs(cell.latencyMs.p50),
    formatMs(cell.latencyMs.p90),
    formatMs(cell.latencyMs.p99),
    describeNon2xx(cell),
    String(cell.errors),
    String(cell.timeouts),
  ]);
  return formatTable(
    [
      ...(capped ? ['db cpu'] : []),
      ...(phased ? ['phase'] : []),
      'scenario',
      'target',
      'conn',
      'req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'non-2xx',
      'errors',
      'timeouts',
    ],
    rows,
    `${capped ? 'r' : ''}${phased ? 'l' : ''}llrrrrrlrr`,
  );
}

function renderRatios(summary: Summary): string {
  const table = formatTable(
    [
      'db cpu',
      'conn',
      'req/s ours/baseline',
      'p99 ours/baseline',
      'CPU µs ours: sum (by process)',
      'CPU µs baseline: sum (by process)',
    ],
    summary.ratios.map((ratio) => [
      ratio.dbCpu === undefined ? 'uncapped' : `${ratio.dbCpu} core`,
      String(ratio.connections),
      formatRatio(ratio.throughput),
      formatRatio(ratio.p99),
      describeCpu(ratio.cpu.ours),
      describeCpu(ratio.cpu.baseline),
    ]),
    'rrrrrr',
  );
  return `Purchase, ours over the baseline (throughput below 1 and p99 above 1: we are slower), with the CPU each design spent per answered purchase, all its processes together and each one\n${table}`;
}

/** `1055 (producer 443, consumer 202, rabbitmq 291, mysql 119)`; `-` when nothing was measured. */
function describeCpu(account: Readonly<Record<string, number>>): string {
  const entries = Object.entries(account);
  if (entries.length === 0) return '-';
  const total = entries.reduce((sum, [, micros]) => sum + micros, 0);
  const parts = entries.map(([name, micros]) => `${name} ${micros.toFixed(0)}`).join(', ');
  return `${total.toFixed(0)} (${parts})`;
}

/** Each asynchronous cell beside the synchronous purchase at the same concurrency. */
function renderAsync(cells: readonly CellSummary[]): string | null {
  const rows = cells.filter((cell) => cell.scenario === 'async');
  if (rows.length === 0) return null;
  const synchronous = (connections: number) =>
    cells.find(
      (c) => c.scenario === 'purchase' && c.target === 'ours' && c.connections === connections,
    );
  const table = formatTable(
    ['conn', 'accepted/s', 'p99 of the 202 ms', 'sync req/s', 'sync p99 ms', 'backlog drained in'],
    rows.map((cell) => {
      const sync = synchronous(cell.connections);
      return [
        String(cell.connections),
        cell.requestsPerSecond.toFixed(1),
        formatMs(cell.latencyMs.p99),
        sync ? sync.requestsPerSecond.toFixed(1) : '-',
        sync ? formatMs(sync.latencyMs.p99) : '-',
        cell.drainMs === undefined || Number.isNaN(cell.drainMs)
          ? 'not drained'
          : `${(cell.drainMs / 1000).toFixed(1)} s`,
      ];
    }),
    'rrrrrr',
  );
  return `Asynchronous purchases (Prefer: respond-async): accepted per second, and how long the consumer took to apply what was left once the load stopped\n${table}`;
}

/**
 * The price of events: our purchases with the relay publishing and without, and how late the
 * events reached a subscriber (from the change's time, so the transaction is included).
 */
function renderEvents(cells: readonly CellSummary[]): string | null {
  const watched = cells.filter((cell) => cell.target === 'ours' && cell.eventDelayMs);
  if (watched.length === 0) return null;
  const withoutEvents = (scenario: string, connections: number) =>
    cells.find(
      (c) =>
        c.target === 'ours, no events' && c.scenario === scenario && c.connections === connections,
    );
  const table = formatTable(
    ['scenario', 'conn', 'req/s', 'without events', 'ratio', 'events', 'delay p50 ms', 'p99 ms'],
    watched.map((cell) => {
      const off = withoutEvents(cell.scenario, cell.connections);
      const delays = cell.eventDelayMs;
      return [
        cell.scenario,
        String(cell.connections),
        cell.requestsPerSecond.toFixed(1),
        off ? off.requestsPerSecond.toFixed(1) : '-',
        off ? formatRatio(cell.requestsPerSecond / off.requestsPerSecond) : '-',
        String(delays?.events ?? 0),
        delays ? formatMs(delays.p50) : '-',
        delays ? formatMs(delays.p99) : '-',
      ];
    }),
    'lrrrrrrr',
  );
  return `Events: throughput with the relay publishing against the same stack without it, and each event's delay from its change to a subscriber\n${table}`;
}

/**
 * The price of tracing: purchases with it off, on for every request, and on for one in ten, and
 * each traced stack's throughput and p99 over the untraced one's.
 */
function renderTracing(cells: readonly CellSummary[]): string | null {
  const traced = (target: string, connections: number) =>
    cells.find(
      (c) => c.target === target && c.scenario === 'purchase' && c.connections === connections,
    );
  const off = cells.filter(
    (cell) => cell.target === 'ours' && traced('ours, traced', cell.connections),
  );
  if (off.length === 0) return null;
  const columns = (cell: CellSummary | undefined, base: CellSummary) =>
    cell
      ? [
          cell.requestsPerSecond.toFixed(1),
          formatMs(cell.latencyMs.p50),
          formatMs(cell.latencyMs.p99),
          formatRatio(cell.requestsPerSecond / base.requestsPerSecond),
          formatRatio(cell.latencyMs.p99 / base.latencyMs.p99),
        ]
      : ['-', '-', '-', '-', '-'];
  const table = formatTable(
    [
      'conn',
      'off req/s',
      'p50',
      'p99',
      'on req/s',
      'p50',
      'p99',
      'req/s on/off',
      'p99 on/off',
      '10% req/s',
      'p50',
      'p99',
      'req/s 10%/off',
      'p99 10%/off',
    ],
    off.map((cell) => [
      String(cell.connections),
      cell.requestsPerSecond.toFixed(1),
      formatMs(cell.latencyMs.p50),
      formatMs(cell.latencyMs.p99),
      ...columns(traced('ours, traced', cell.connections), cell),
      ...columns(traced('ours, traced 10%', cell.connections), cell),
    ]),
    'rrrrrrrrrrrrrr',
  );
  return `Tracing: purchases with it off, on (always_on) and on at 10% (parentbased_traceidratio 0.1), each traced stack over the untraced one\n${table}`;
}

const producerMicros = (cell: CellSummary) =>
  cell.cpuMicrosPerRequest['producer']?.toFixed(0) ?? '-';

/** The price of a provider's token: the same read with an RS256 token and with an HS256 one. */
function renderTokenKinds(cells: readonly CellSummary[]): string | null {
  const rs256 = cells.filter((cell) => cell.target === 'ours, RS256');
  if (rs256.length === 0) return null;
  const table = formatTable(
    [
      'scenario',
      'conn',
      'HS256 req/s',
      'p50',
      'p99',
      'producer µs',
      'RS256 req/s',
      'p50',
      'p99',
      'producer µs',
      'p99 ratio',
    ],
    rs256.map((cell) => {
      const hs = cells.find(
        (c) =>
          c.target === 'ours, HS256' &&
          c.scenario === cell.scenario &&
          c.connections === cell.connections,
      );
      return [
        cell.scenario,
        String(cell.connections),
        hs ? hs.requestsPerSecond.toFixed(1) : '-',
        hs ? formatMs(hs.latencyMs.p50) : '-',
        hs ? formatMs(hs.latencyMs.p99) : '-',
        hs ? producerMicros(hs) : '-',
        cell.requestsPerSecond.toFixed(1),
        formatMs(cell.latencyMs.p50),
        formatMs(cell.latencyMs.p99),
        producerMicros(cell),
        hs ? formatRatio(cell.latencyMs.p99 / hs.latencyMs.p99) : '-',
      ];
    }),
    'lrrrrrrrrrr',
  );
  return `Token kinds: one subscription read with an identity provider's RS256 token against the service's HS256 token, same stack; the producer's CPU per answered read\n${table}`;
}

/** What the capped database did per purchase, from its own counters. */
function renderDatabaseWork(cells: readonly CellSummary[]): string | null {
  const measured = cells.filter((cell) => cell.databaseWork);
  const first = measured[0]?.databaseWork;
  if (!first) return null;
  const names = Object.keys(first);
  const table = formatTable(
    ['db cpu', 'target', 'conn', 'consumer batches', ...names],
    measured.map((cell) => [
      String(cell.dbCpu ?? '-'),
      cell.target,
      String(cell.connections),
      describeBatches(cell),
      ...names.map((name) => (cell.databaseWork?.[name] ?? Number.NaN).toFixed(2)),
    ]),
    `rlrl${'r'.repeat(names.length)}`,
  );
  return `Database work per answered purchase (the bench's own server's counters)\n${table}`;
}

/** Each purchase cell's CPU per answered request, process by process, and the sum. */
function renderCpu(cells: readonly CellSummary[]): string | null {
  const purchases = cells.filter(
    (cell) => cell.scenario === 'purchase' && Object.keys(cell.cpuMicrosPerRequest).length > 0,
  );
  if (purchases.length === 0) return null;
  const table = formatTable(
    ['db cpu', 'target', 'conn', 'CPU µs: sum (by process)', 'consumer batches'],
    purchases.map((cell) => [
      cell.dbCpu === undefined ? '-' : String(cell.dbCpu),
      cell.target,
      String(cell.connections),
      describeCpu(cell.cpuMicrosPerRequest),
      describeBatches(cell),
    ]),
    'rlrll',
  );
  return `CPU per answered purchase (user + system time of each process over the measured window), and the consumer's mean batch\n${table}`;
}

function describeBatches({ meanBatch }: CellSummary): string {
  return meanBatch === undefined
    ? '-'
    : `${meanBatch.commands.toFixed(1)} commands in ${meanBatch.ms.toFixed(1)} ms`;
}

function describeNon2xx(cell: CellSummary): string {
  const expected = EXPECTED_STATUSES[cell.scenario];
  const parts = Object.entries(cell.statusCounts)
    .filter(([status]) => !status.startsWith('2'))
    .map(
      ([status, count]) =>
        `${status}: ${count}${expected.has(Number(status)) ? ' (expected)' : ''}`,
    );
  return parts.length > 0 ? parts.join(', ') : '-';
}

const formatMs = (ms: number) => (Number.isInteger(ms) ? String(ms) : ms.toFixed(1));
const formatRatio = (ratio: number | null) => (ratio === null ? '-' : `${ratio.toFixed(2)}x`);

/** `align` has one letter per column: `l` or `r`. */
function formatTable(headers: string[], rows: string[][], align: string): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return align[column] === 'r' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  );
}
