import { createTestVhost } from '../../test-support/broker';
import type { Cleanup } from '../../test-support/cleanup';
import type { MysqlServer } from '../../test-support/database';
import { startConsumer, startProducer } from '../../test-support/processes/services';
import type { IdRange } from './options';
import { createScratchDatabase } from './scratch-database';
import { checkBroker } from './service-access';

/** The producer waits up to 15 s for requests in hand; a little more before SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

interface SpawnedStack {
  baseUrl: string;
  /** Its scratch database, for the bench to fill and read. */
  database: { server: MysqlServer; name: string };
  /** The stack's own vhost, for a subscriber of its events. */
  amqpUrl: string;
  producerPid: number;
  consumerPid: number;
  /** The consumer's /metrics. */
  consumerMetricsUrl: string | undefined;
  userIds: IdRange;
  serverVersion: string;
  /** Stops the consumer (SIGTERM) and resolves once it is gone; the producer keeps running. */
  stopConsumer(): Promise<void>;
}

interface StackSettings {
  mysql: MysqlServer;
  amqpUrl: string;
  /** Where the scratch vhost is made; port 15672 of the broker's host when unset. */
  managementUrl?: string | undefined;
  users: number;
  /** Consumer tunables (CONSUMER_CONCURRENCY, ...) to override its defaults with. */
  consumerSettings: Record<string, string>;
  /** Producer settings (RPC_TIMEOUT_MS, ...) to override its defaults with. */
  producerSettings?: Record<string, string>;
  /** Where producer and consumer write a V8 CPU profile when they stop; none when unset. */
  profileDir?: string | undefined;
}

/**
 * Our producer and consumer on a scratch database and vhost, as the deployment runs them but
 * quiet (warn), without auth and without the rate limit, which would cap the load otherwise.
 */
export async function startSpawnedStack(
  settings: StackSettings,
  cleanup: Cleanup,
): Promise<SpawnedStack> {
  await checkBroker(settings.amqpUrl, settings.managementUrl);
  const database = await createScratchDatabase(settings.mysql, settings.users, cleanup);
  // The topology names are fixed: a vhost of its own keeps the stack off any other on the broker.
  const vhost = await createTestVhost({
    prefix: 'bench_',
    amqpUrl: settings.amqpUrl,
    managementUrl: settings.managementUrl,
    cleanup,
  });
  const common = {
    amqpUrl: vhost.url,
    database: database.name,
    mysql: settings.mysql,
    readiness: 'readyz',
    stopTimeoutMs: STOP_TIMEOUT_MS,
    ...(settings.profileDir && {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`],
    }),
  } as const;

  const consumer = await startConsumer({
    ...common,
    env: { LOG_LEVEL: 'warn', ...settings.consumerSettings },
  });
  cleanup.add('stop consumer', () => consumer.stop());

  const producer = await startProducer({
    ...common,
    env: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', ...settings.producerSettings },
  });
  cleanup.add('stop producer', () => producer.stop());

  return {
    baseUrl: producer.baseUrl,
    database: { server: settings.mysql, name: database.name },
    amqpUrl: vhost.url,
    producerPid: producer.pid,
    consumerPid: consumer.pid,
    consumerMetricsUrl: consumer.metricsUrl,
    userIds: database.userIds,
    serverVersion: database.serverVersion,
    stopConsumer: () => consumer.stop(),
  };
}
