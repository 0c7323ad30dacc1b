import { existsSync } from 'node:fs';
import path from 'node:path';
import { mysqlServer, type MysqlServer } from '../database';
import { findFreePort } from '../ports';
import { spawnNodeProcess, waitUntilAnswering, type NodeProcess } from './node-process';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY_POINTS = {
  producer: path.join(ROOT, 'producer/dist/main.js'),
  consumer: path.join(ROOT, 'consumer/dist/main.js'),
} as const;

type ServiceName = keyof typeof ENTRY_POINTS;

/** A producer or consumer running as a child process, from the built output as deployed. */
export type ServiceProcess = NodeProcess<ServiceName>;

export interface Producer extends ServiceProcess {
  /** `http://127.0.0.1:<port>`, the port the producer listens on. */
  readonly baseUrl: string;
}

/**
 * How a start is confirmed. `logs`: by the lines the service logs at LOG_LEVEL info (the
 * default), on a port the service picks. `readyz`: by its /readyz answering 200 on a port
 * picked here, for a service run quietly (LOG_LEVEL warn, as the bench runs it).
 */
export type Readiness = 'logs' | 'readyz';

interface ServiceOptions {
  amqpUrl: string;
  /** The MySQL/MariaDB server; the test run's own (`MYSQL_*` of its environment) when unset. */
  mysql?: MysqlServer;
  /** Adds or overrides settings (`MYSQL_PORT` of a proxy, `CONSUMER_CONCURRENCY`, ...). */
  env?: Record<string, string>;
  readiness?: Readiness;
  /** How long `stop()` waits after SIGTERM; 10 s unless given. */
  stopTimeoutMs?: number;
  /** Options of `node` itself (`--cpu-prof`, ...). */
  nodeArgs?: readonly string[];
}

function spawnService(
  name: ServiceName,
  settings: Record<string, string>,
  { stopTimeoutMs, nodeArgs }: Pick<ServiceOptions, 'stopTimeoutMs' | 'nodeArgs'>,
): ServiceProcess {
  const entry = ENTRY_POINTS[name];
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: build first with \`npx tsc -b\` (npm test does)`);
  }
  return spawnNodeProcess({
    name,
    entry,
    env: { LOG_LEVEL: 'info', ...settings },
    ...(stopTimeoutMs === undefined ? {} : { stopTimeoutMs }),
    ...(nodeArgs === undefined ? {} : { nodeArgs }),
  });
}

/** Settings every service gets: its broker vhost and database, nothing from the shell. */
function baseSettings(
  amqpUrl: string,
  database: string | undefined,
  mysql: MysqlServer = mysqlServer,
): Record<string, string> {
  return {
    AMQP_URL: amqpUrl,
    MYSQL_HOST: mysql.host,
    MYSQL_PORT: String(mysql.port),
    MYSQL_USER: mysql.user,
    MYSQL_PASSWORD: mysql.password,
    ...(database ? { MYSQL_DATABASE: database } : {}),
  };
}

/** Stops a process that failed to come up, keeping the start error as the one reported. */
async function started<T extends ServiceProcess>(service: T, ready: Promise<unknown>): Promise<T> {
  try {
    await ready;
    return service;
  } catch (error) {
    await service.kill();
    throw error;
  }
}

export interface Consumer extends ServiceProcess {
  /** Its /metrics, when it was started on a port picked here (`readyz`). */
  readonly metricsUrl: string | undefined;
}

/** Starts `node consumer/dist/main.js` and resolves once it consumes the command queues. */
export async function startConsumer(
  options: ServiceOptions & { database: string },
): Promise<Consumer> {
  const { readiness = 'logs' } = options;
  // A free port each, so several consumers can run side by side.
  const metricsPort = readiness === 'readyz' ? await findFreePort() : 0;
  const consumer = spawnService(
    'consumer',
    {
      ...baseSettings(options.amqpUrl, options.database, options.mysql),
      METRICS_PORT: String(metricsPort),
      ...options.env,
    },
    options,
  );
  const ready =
    readiness === 'readyz'
      ? waitUntilAnswering(consumer, `http://127.0.0.1:${metricsPort}/readyz`)
      : consumer.waitForMessage('consuming commands');
  await started(consumer, ready);
  return {
    ...consumer,
    metricsUrl: readiness === 'readyz' ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
  };
}

/**
 * Starts `node producer/dist/main.js` on a free port and resolves once it listens and, unless
 * `awaitBroker` is false, once its RPC channel to the broker is open (with `readyz`, once it is
 * ready, broker and database included). Auth is off: these callers send no tokens.
 */
export async function startProducer(
  options: ServiceOptions & { database?: string; rpcTimeoutMs?: number; awaitBroker?: boolean },
): Promise<Producer> {
  const { amqpUrl, database, rpcTimeoutMs, awaitBroker = true, readiness = 'logs' } = options;
  const chosenPort = readiness === 'readyz' ? await findFreePort() : 0;
  const producer = spawnService(
    'producer',
    {
      ...baseSettings(amqpUrl, database, options.mysql),
      PORT: String(chosenPort),
      ...(rpcTimeoutMs === undefined ? {} : { RPC_TIMEOUT_MS: String(rpcTimeoutMs) }),
      AUTH_DISABLED: 'true',
      ...options.env,
    },
    options,
  );
  const ready =
    readiness === 'readyz'
      ? waitUntilAnswering(producer, `http://127.0.0.1:${chosenPort}/readyz`).then(() => chosenPort)
      : listeningPort(producer, awaitBroker);
  await started(producer, ready);
  return { ...producer, baseUrl: `http://127.0.0.1:${await ready}` };
}

/** The port the producer logs once it listens (it was started on PORT=0). */
async function listeningPort(producer: ServiceProcess, awaitBroker: boolean): Promise<number> {
  const listening = await producer.waitForMessage('listening');
  if (awaitBroker) await producer.waitForMessage('broker connected');
  if (typeof listening['port'] !== 'number') {
    throw new Error(`producer logged "listening" without a port: ${JSON.stringify(listening)}`);
  }
  return listening['port'];
}
