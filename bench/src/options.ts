import path from 'node:path';
import { parseArgs } from 'node:util';
import type { MysqlServer } from '../../test-support/database';

export interface IdRange {
  first: number;
  last: number;
}

/** A token to send as it is (BEARER_TOKEN), or the secret to sign one with. */
export type AuthSettings =
  | { bearerToken: string }
  | { secret: string; issuer: string | undefined; audience: string | undefined };

export interface BenchOptions {
  /** Start a scratch stack of our own instead of driving the one at `baseUrl`. */
  spawn: boolean;
  baseUrl: string;
  connections: number[];
  durationSeconds: number;
  warmupSeconds: number;
  runs: number;
  /** Users inserted into each scratch database. */
  users: number;
  /** Users assumed to exist in a running stack's database. */
  userIds: IdRange;
  /** Subscriptions created before the mix, for it to cancel and restart. */
  subscriptions: number;
  baseline: boolean;
  /** Also a second stack of ours with event publishing off, to price events (needs --spawn). */
  eventsCost: boolean;
  /**
   * Reads with an RS256 token of an identity provider against reads with an HS256 token, on one
   * stack with auth on, and the key-set fetches of a rotation and of unknown kids (needs --spawn).
   */
  tokenCost: boolean;
  /**
   * Our stack with tracing off, on (every request sampled) and on at 10% (parentbased_traceidratio
   * 0.1), all three sending to a local OTLP receiver, their purchases measured in turns.
   */
  tracingCost: boolean;
  /**
   * CPU budgets (cores) of a private, capped database both designs run against, one after the
   * other in each run (needs --spawn); empty: the machine's own server, uncapped.
   */
  dbCpu: number[];
  /** `innodb_buffer_pool_size` of that private database. */
  dbBufferPool: string;
  /** Data growth (needs --spawn): subscriptions added between an empty and a full measurement. */
  preload: number;
  /** Data growth: expired command records the purge removes while purchases are measured. */
  purgeRows: number;
  /** Where a spawned producer and consumer write their V8 CPU profiles when they stop. */
  profileDir: string | undefined;
  /** MySQL connections of the baseline's pool. */
  baselinePool: number;
  /** Consumer tunables found in the environment, handed to a spawned consumer as they are. */
  consumerSettings: Record<string, string>;
  writeDocs: boolean;
  auth: AuthSettings | undefined;
  mysql: MysqlServer;
  amqpUrl: string;
  /** RabbitMQ's management API, where --spawn makes its vhost; unset, port 15672 of the broker. */
  managementUrl: string | undefined;
}

/** Passed through to a spawned consumer when set; otherwise it runs with its own defaults. */
const CONSUMER_TUNABLES = [
  'CONSUMER_CONCURRENCY',
  'CONSUMER_TRANSACTIONS',
  'BATCH_SIZE',
  'BATCH_LINGER_MS',
];

export class UsageError extends Error {
  override name = 'UsageError';
}

export const HELP = `Usage: npm run bench -- [options]

Load benchmark of the purchase path: our producer -> RabbitMQ -> consumer -> MySQL, next to a
plain Express server that writes the same rows to MySQL itself (the baseline).

Target
  --spawn                   start a scratch stack: database bench_<random>, RabbitMQ vhost
                            bench_<random>, consumer and producer as child processes (auth off,
                            rate limit off); everything is removed at the end, also on Ctrl-C
                            Without it the bench drives the stack already running at BASE_URL;
                            start that producer with RATE_LIMIT_PER_MINUTE=0.
  --user-ids <a-b>          users that exist in a running stack's database (default 1-1, the
                            seeded Admin); ignored with --spawn
  --users <n>               users inserted into each scratch database (default 1000)
  --db-cpu <cores,...>      with --spawn: run both designs against a private MariaDB of the
                            bench's own (own data directory and port, durable settings), its
                            CPU capped by a cgroup quota at each budget in turn (e.g. 0.15, or
                            0.1,0.25,0.5,1 for a curve); purchases only. Needs root to write
                            cgroups (v1 or v2); the machine's server is never capped
  --db-buffer-pool <size>   innodb_buffer_pool_size of that database (default 128M)

Data growth (instead of the usual matrix; ours only, needs --spawn)
  --preload <n>             measure purchases and reads (one subscription, its history, the
                            first and a deep page of the list, canceled ones) on the scratch
                            database, then fill it with n subscriptions (their events and
                            command records) and measure again
  --purge-rows <n>          then, before each run, add n command records past the retention and
                            measure purchases without and with the consumer's purge removing them
  --events-cost             with --spawn: a second stack of ours whose consumer publishes no
                            events (EVENTS_ENABLED=false), its purchases measured beside ours;
                            purchases only, the two stacks taking turns to go first
  --token-cost              with --spawn: auth on, trusting a local key-set server as its
                            identity provider beside a secret; reads of one subscription with
                            an RS256 token of the provider and with an HS256 token, taking turns
                            to go first; then the key-set fetches of a rotation and of bursts of
                            unknown kids
  --tracing-cost            with --spawn: three stacks of ours, tracing off, on (always_on) and
                            on at 10% (parentbased_traceidratio 0.1), the two traced ones posting
                            their spans to a local OTLP/HTTP receiver; purchases only, the three
                            taking turns to go first

Load
  --connections <list>      concurrent connections, comma-separated (default 1,8,32,128)
  --duration <seconds>      measured time per cell (default 10)
  --warmup <seconds>        unmeasured load before each cell (default 2)
  --quick                   --duration 3 --warmup 1, unless those are given
  --runs <n>                repeat the whole matrix n times and report medians (default 1)
  --subscriptions <n>       subscriptions created before the mix (default 1000)
  --baseline-pool <n>       MySQL connections of the baseline's pool (default 16)

Output
  --profile <dir>           with --spawn: producer and consumer run with --cpu-prof and write a
                            profile each into <dir> when they stop; npm run bench:profile --
                            <dir>/*.cpuprofile summarises them and draws their flame graphs
  --no-docs                 write bench-results/ only, leave docs/bench/ untouched
  -h, --help                show this text

Environment (also read from .env)
  BASE_URL                  running stack to drive (default http://localhost:5000)
  BEARER_TOKEN              a bearer token for a running stack, sent as it is (e.g. an admin
                            token of its identity provider); it wins over AUTH_JWT_SECRET
  AUTH_JWT_SECRET           sign an admin bearer token for a running stack (AUTH_ISSUER and
                            AUTH_AUDIENCE are honoured)
  CONSUMER_CONCURRENCY CONSUMER_TRANSACTIONS BATCH_SIZE BATCH_LINGER_MS
                            passed to the consumer started by --spawn; unset, it runs with its
                            own defaults, as it would be deployed
  MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD
                            server for the scratch databases (default 127.0.0.1 3306 root, empty)
  AMQP_URL                  broker for the scratch vhost (default amqp://guest:guest@127.0.0.1:5672)
  RABBITMQ_MANAGEMENT_URL   its management API, where the vhost is made (default port 15672 of
                            the AMQP_URL host, with the AMQP_URL user)

Writes bench-results/bench-<timestamp>.json, and docs/bench/latest.json and latest.svg
(db-cpu.* with --db-cpu, events-cost.* with --events-cost, token-cost.json with --token-cost,
data-growth.json with --preload or --purge-rows, tracing-cost.json with --tracing-cost).
`;

/** `null` when the caller asked for help. */
export function parseOptions(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): BenchOptions | null {
  const { values } = parseArgsOrThrow(argv);
  if (values.help) return null;
  const quick = values.quick ?? false;
  const setting = (name: string) => (env[name] === '' ? undefined : env[name]);
  const secret = setting('AUTH_JWT_SECRET');
  const bearerToken = setting('BEARER_TOKEN');
  const preload = growthOption('--preload', values.preload, values.spawn ?? false);
  const purgeRows = growthOption('--purge-rows', values['purge-rows'], values.spawn ?? false);
  return {
    spawn: values.spawn ?? false,
    baseUrl: parseUrl('BASE_URL', setting('BASE_URL') ?? 'http://localhost:5000'),
    connections: parseList('--connections', values.connections ?? '1,8,32,128'),
    durationSeconds: parseInteger('--duration', values.duration ?? (quick ? '3' : '10'), 1, 3600),
    warmupSeconds: parseInteger('--warmup', values.warmup ?? (quick ? '1' : '2'), 0, 600),
    runs: parseInteger('--runs', values.runs ?? '1', 1, 50),
    users: parseInteger('--users', values.users ?? '1000', 1, 1_000_000),
    userIds: parseRange('--user-ids', values['user-ids'] ?? '1-1'),
    subscriptions: parseInteger('--subscriptions', values.subscriptions ?? '1000', 1, 1_000_000),
    // Data growth compares our stack with itself, and token kinds one stack's two doors.
    baseline: preload + purgeRows === 0 && !values['token-cost'] && !values['tracing-cost'],
    eventsCost: eventsCostOption(values['events-cost'] ?? false, values.spawn ?? false),
    tokenCost: tokenCostOption(values['token-cost'] ?? false, values.spawn ?? false),
    tracingCost: tracingCostOption(values['tracing-cost'] ?? false, values.spawn ?? false),
    dbCpu: dbCpuOption(values['db-cpu'], values.spawn ?? false),
    dbBufferPool: parseSize('--db-buffer-pool', values['db-buffer-pool'] ?? '128M'),
    preload,
    purgeRows,
    profileDir: profileOption(values.profile, values.spawn ?? false),
    baselinePool: parseInteger('--baseline-pool', values['baseline-pool'] ?? '16', 1, 1000),
    consumerSettings: Object.fromEntries(
      CONSUMER_TUNABLES.flatMap((name) => {
        const value = setting(name);
        return value === undefined ? [] : [[name, value]];
      }),
    ),
    writeDocs: !(values['no-docs'] ?? false),
    auth: bearerToken
      ? { bearerToken }
      : secret
        ? { secret, issuer: setting('AUTH_ISSUER'), audience: setting('AUTH_AUDIENCE') }
        : undefined,
    mysql: {
      host: setting('MYSQL_HOST') ?? '127.0.0.1',
      port: parseInteger('MYSQL_PORT', setting('MYSQL_PORT') ?? '3306', 1, 65535),
      user: setting('MYSQL_USER') ?? 'root',
      password: setting('MYSQL_PASSWORD') ?? '',
    },
    amqpUrl: setting('AMQP_URL') ?? 'amqp://guest:guest@127.0.0.1:5672',
    managementUrl: optionalUrl('RABBITMQ_MANAGEMENT_URL', setting('RABBITMQ_MANAGEMENT_URL')),
  };
}

function parseArgsOrThrow(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        spawn: { type: 'boolean' },
        quick: { type: 'boolean' },
        connections: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        runs: { type: 'string' },
        users: { type: 'string' },
        'user-ids': { type: 'string' },
        subscriptions: { type: 'string' },
        'baseline-pool': { type: 'string' },
        'events-cost': { type: 'boolean' },
        'tracing-cost': { type: 'boolean' },
        'token-cost': { type: 'boolean' },
        'db-cpu': { type: 'string' },
        'db-buffer-pool': { type: 'string' },
        preload: { type: 'string' },
        'purge-rows': { type: 'string' },
        profile: { type: 'string' },
        'no-docs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function eventsCostOption(eventsCost: boolean, spawn: boolean): boolean {
  if (eventsCost && !spawn) {
    throw new UsageError('--events-cost starts stacks of its own: it needs --spawn');
  }
  return eventsCost;
}

function tracingCostOption(tracingCost: boolean, spawn: boolean): boolean {
  if (tracingCost && !spawn) {
    throw new UsageError('--tracing-cost starts stacks of its own: it needs --spawn');
  }
  return tracingCost;
}

function tokenCostOption(tokenCost: boolean, spawn: boolean): boolean {
  if (tokenCost && !spawn) {
    throw new UsageError(
      '--token-cost starts a stack and a key-set server of its own: it needs --spawn',
    );
  }
  return tokenCost;
}

function dbCpuOption(text: string | undefined, spawn: boolean): number[] {
  if (text === undefined) return [];
  if (!spawn) throw new UsageError('--db-cpu starts a database of its own: it needs --spawn');
  const budgets = text.split(',').map((item) => {
    const cores = Number(item.trim());
    if (!/^\d+(\.\d+)?$/.test(item.trim()) || cores < 0.01 || cores > 64) {
      throw new UsageError(`--db-cpu: expected cores from 0.01 to 64, got "${item.trim()}"`);
    }
    return cores;
  });
  return [...new Set(budgets)].sort((a, b) => a - b);
}

function profileOption(dir: string | undefined, spawn: boolean): string | undefined {
  if (dir === undefined) return undefined;
  if (!spawn) throw new UsageError('--profile starts the processes it profiles: it needs --spawn');
  return path.resolve(dir);
}

function growthOption(name: string, text: string | undefined, spawn: boolean): number {
  if (text === undefined) return 0;
  if (!spawn) throw new UsageError(`${name} fills the scratch database: it needs --spawn`);
  return parseInteger(name, text, 1, 100_000_000);
}

function parseSize(name: string, text: string): string {
  if (!/^[1-9][0-9]*[KMG]?$/.test(text)) {
    throw new UsageError(`${name}: expected a size such as 128M or 2G, got "${text}"`);
  }
  return text;
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < min || value > max) {
    throw new UsageError(`${name}: expected a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function parseList(name: string, text: string): number[] {
  const values = text.split(',').map((item) => parseInteger(name, item.trim(), 1, 10_000));
  return [...new Set(values)].sort((a, b) => a - b);
}

function parseRange(name: string, text: string): IdRange {
  const [first, last = first] = text.split('-');
  const range = {
    first: parseInteger(name, first ?? '', 1, Number.MAX_SAFE_INTEGER),
    last: parseInteger(name, last ?? '', 1, Number.MAX_SAFE_INTEGER),
  };
  if (range.last < range.first) throw new UsageError(`${name}: "${text}" is an empty range`);
  return range;
}

function parseUrl(name: string, text: string): string {
  const url = URL.canParse(text) ? new URL(text) : null;
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`${name}: expected an http(s) URL, got "${text}"`);
  }
  return text.replace(/\/+$/, '');
}

function optionalUrl(name: string, text: string | undefined): string | undefined {
  return text === undefined ? undefined : parseUrl(name, text);
}
