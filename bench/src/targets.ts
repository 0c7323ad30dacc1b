import type { Cleanup } from '../../test-support/cleanup';
import { authorizationHeaders } from './auth';
import { startBaseline } from './baseline-process';
import { type CappedDatabase, startCappedDatabase } from './capped-database';
import { findServiceProcesses, type CpuSubject } from './cpu';
import { type EventWatch, watchEvents } from './event-watch';
import type { MysqlServer } from '../../test-support/database';
import type { BenchOptions, IdRange } from './options';
import { startSpawnedStack } from './spawned-stack';
import { producerTarget, reaching } from './service-access';
import { startTokenIssuer, type TokenIssuer } from './token-cost';
import { type OtlpReceiver, startOtlpReceiver } from '../../test-support/tracing/otlp-receiver';

/**
 * `ours, no events`: our stack with its consumer publishing no events (`--events-cost`);
 * `ours, HS256` and `ours, RS256`: one stack with auth on, by the kind of token (`--token-cost`);
 * `ours, traced` and `ours, traced 10%`: our stack tracing every request, and one in ten
 * (`--tracing-cost`, beside `ours` with tracing off).
 */
export type TargetName =
  | 'ours'
  | 'ours, no events'
  | 'ours, HS256'
  | 'ours, RS256'
  | 'ours, traced'
  | 'ours, traced 10%'
  | 'baseline';

/** Something the load is aimed at, and the processes its requests cost CPU in. */
export interface Target {
  name: TargetName;
  baseUrl: string;
  /** Sent with every request. */
  headers: Record<string, string>;
  /** Users that exist in its database. */
  userIds: IdRange;
  /** Processes whose CPU time the target's requests are charged with. */
  cpu: CpuSubject[];
  /** A subscriber of its events, when the bench runs one. */
  events?: EventWatch;
  /** Its consumer's /metrics, for the batch sizes it reached. */
  consumerMetricsUrl?: string | undefined;
  /** Its database, when the bench made it (`--spawn`). */
  database?: { server: MysqlServer; name: string };
}

export interface Targets {
  /** With `--db-cpu`: the private database both designs run against, its CPU capped. */
  cappedDatabase: CappedDatabase | undefined;
  ours: Target;
  /** With `--events-cost`: the same stack with event publishing off. */
  oursWithoutEvents: Target | undefined;
  /** With `--token-cost`: `ours` sends an HS256 token, this the provider's RS256 token. */
  oursWithProviderToken: Target | undefined;
  /** With `--token-cost`: the stack's identity provider. */
  tokenIssuer: TokenIssuer | undefined;
  /** With `--tracing-cost`: the stacks tracing every request and one in ten, and their receiver. */
  traced: { always: Target; tenth: Target; receiver: OtlpReceiver } | undefined;
  baseline: Target | undefined;
  /** MySQL/MariaDB version of the scratch databases, when the bench made any. */
  serverVersion: string | undefined;
}

const JSON_BODY = { 'content-type': 'application/json' };

export async function prepareTargets(
  benchOptions: BenchOptions,
  cleanup: Cleanup,
): Promise<Targets> {
  const brokerUrl = new URL(benchOptions.amqpUrl.split(',')[0]?.trim() ?? '');
  const found = await findServiceProcesses({
    broker: { host: brokerUrl.hostname, port: Number(brokerUrl.port || 5672) },
    database: benchOptions.mysql,
  });
  const cappedDatabase =
    benchOptions.dbCpu.length > 0
      ? await startCappedDatabase({ bufferPool: benchOptions.dbBufferPool }, cleanup)
      : undefined;
  // Every scratch database goes on the capped server when there is one.
  const options = cappedDatabase ? { ...benchOptions, mysql: cappedDatabase.server } : benchOptions;
  const database = cappedDatabase ? { name: 'mysql', pid: cappedDatabase.pid } : found.database;
  const services = (...subjects: (CpuSubject | undefined)[]) =>
    subjects.filter((subject): subject is CpuSubject => subject !== undefined);
  const tokenIssuer = options.tokenCost ? await startTokenIssuer(cleanup, 24 * 3600) : undefined;
  const ours = options.spawn
    ? await spawnOurs(options, cleanup, { tokenIssuer })
    : await reachOurs(options);
  ours.target.cpu.push(...services(found.broker, database));
  const oursWithProviderToken: Target | undefined = tokenIssuer && {
    ...ours.target,
    name: 'ours, RS256',
    headers: { ...JSON_BODY, ...tokenIssuer.headers.rs256 },
  };
  const withoutEvents = options.eventsCost
    ? await spawnOurs(options, cleanup, { events: false })
    : undefined;
  withoutEvents?.target.cpu.push(...services(found.broker, database));
  const oursWithoutEvents = withoutEvents?.target;
  const traced = options.tracingCost ? await spawnTraced(options, cleanup) : undefined;
  for (const target of traced ? [traced.always, traced.tenth] : []) {
    target.cpu.push(...services(found.broker, database));
  }
  if (!options.baseline) {
    return {
      cappedDatabase,
      ours: ours.target,
      oursWithoutEvents,
      oursWithProviderToken,
      tokenIssuer,
      traced,
      baseline: undefined,
      serverVersion: ours.serverVersion,
    };
  }
  const baseline = await startBaseline(
    { mysql: options.mysql, users: options.users, poolSize: options.baselinePool },
    cleanup,
  );
  return {
    cappedDatabase,
    ours: ours.target,
    oursWithoutEvents,
    oursWithProviderToken,
    tokenIssuer,
    traced,
    baseline: {
      name: 'baseline',
      baseUrl: baseline.baseUrl,
      headers: JSON_BODY,
      userIds: baseline.userIds,
      cpu: [{ name: 'baseline', pid: baseline.pid }, ...services(database)],
    },
    serverVersion: baseline.serverVersion,
  };
}

/**
 * `--tracing-cost`: two more stacks of ours, one tracing every request and one a tenth of them,
 * both posting to one local OTLP/HTTP receiver that counts what comes without decoding it.
 */
async function spawnTraced(options: BenchOptions, cleanup: Cleanup) {
  const receiver = await startOtlpReceiver({ decode: false });
  cleanup.add('stop the OTLP receiver', () => receiver.close());
  const tracing = (sampler: Record<string, string>) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    ...sampler,
  });
  const always = await spawnOurs(options, cleanup, {
    name: 'ours, traced',
    tracing: tracing({ OTEL_TRACES_SAMPLER: 'always_on' }),
  });
  const tenth = await spawnOurs(options, cleanup, {
    name: 'ours, traced 10%',
    tracing: tracing({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    }),
  });
  return { always: always.target, tenth: tenth.target, receiver };
}

/**
 * Our stack; with `events: false` its consumer publishes none and nobody watches for them; with
 * a token issuer, auth is on and the target sends its HS256 token; with `tracing`, both
 * processes get those variables.
 */
async function spawnOurs(
  options: BenchOptions,
  cleanup: Cleanup,
  {
    events = true,
    tokenIssuer,
    name,
    tracing = {},
  }: {
    events?: boolean;
    tokenIssuer?: TokenIssuer | undefined;
    name?: TargetName;
    tracing?: Record<string, string>;
  } = {},
) {
  const stack = await startSpawnedStack(
    {
      mysql: options.mysql,
      amqpUrl: options.amqpUrl,
      managementUrl: options.managementUrl,
      users: options.users,
      profileDir: events ? options.profileDir : undefined,
      consumerSettings: {
        ...options.consumerSettings,
        ...(events ? {} : { EVENTS_ENABLED: 'false' }),
        ...tracing,
      },
      producerSettings: { ...tokenIssuer?.producerSettings, ...tracing },
    },
    cleanup,
  );
  const target: Target = {
    name: name ?? (tokenIssuer ? 'ours, HS256' : events ? 'ours' : 'ours, no events'),
    baseUrl: stack.baseUrl,
    headers: { ...JSON_BODY, ...tokenIssuer?.headers.hs256 },
    userIds: stack.userIds,
    cpu: [
      { name: 'producer', pid: stack.producerPid },
      { name: 'consumer', pid: stack.consumerPid },
    ],
    // A subscriber adds its own queue's work to the broker: only when events are what is measured.
    ...(events && options.eventsCost && { events: await watchEvents(stack.amqpUrl, cleanup) }),
    consumerMetricsUrl: stack.consumerMetricsUrl,
    database: stack.database,
  };
  return { target, serverVersion: stack.serverVersion };
}

async function reachOurs(options: BenchOptions) {
  const ready = await reaching(producerTarget(options.baseUrl), async () => {
    const response = await fetch(`${options.baseUrl}/readyz`, {
      signal: AbortSignal.timeout(5_000),
    });
    await response.body?.cancel();
    return response.status;
  });
  if (ready !== 200) {
    throw new Error(
      `${options.baseUrl}/readyz answers ${ready}, not 200: the stack there is not ready (its broker or database is away)`,
    );
  }
  // Outlives any run; it is only ever held in this process's memory.
  const headers = await authorizationHeaders(options.auth, 24 * 3600);
  const target: Target = {
    name: 'ours',
    baseUrl: options.baseUrl,
    headers: { ...JSON_BODY, ...headers },
    userIds: options.userIds,
    // Our processes run elsewhere or under another parent: only local services are charged.
    cpu: [],
  };
  return { target, serverVersion: undefined };
}
