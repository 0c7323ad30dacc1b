import { spawnService } from './child-service';
import type { Cleanup } from './cleanup';
import { findFreePort } from './free-port';
import type { IdRange, MysqlServer } from './options';
import { ENTRY_POINTS } from './paths';
import { createScratchDatabase } from './scratch-database';
import { createScratchVhost } from './scratch-vhost';
import { checkBroker } from './service-access';
import { waitUntilReady } from './wait-ready';

export interface SpawnedStack {
  baseUrl: string;
  producerPid: number;
  consumerPid: number;
  userIds: IdRange;
  serverVersion: string;
  /** Stops the consumer (SIGTERM) and resolves once it is gone; the producer keeps running. */
  stopConsumer(): Promise<void>;
}

export interface StackSettings {
  mysql: MysqlServer;
  amqpUrl: string;
  /** Where the scratch vhost is made; port 15672 of the broker's host when unset. */
  managementUrl?: string | undefined;
  users: number;
  /** Consumer tunables (CONSUMER_CONCURRENCY, ...) to override its defaults with. */
  consumerSettings: Record<string, string>;
  /** Producer settings (RPC_TIMEOUT_MS, ...) to override its defaults with. */
  producerSettings?: Record<string, string>;
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
  const amqpUrl = await createScratchVhost(settings.amqpUrl, cleanup, settings.managementUrl);
  const common = {
    AMQP_URL: amqpUrl,
    MYSQL_HOST: settings.mysql.host,
    MYSQL_PORT: String(settings.mysql.port),
    MYSQL_USER: settings.mysql.user,
    MYSQL_PASSWORD: settings.mysql.password,
    MYSQL_DATABASE: database.name,
    LOG_LEVEL: 'warn',
  };

  const metricsPort = await findFreePort();
  const consumer = spawnService({
    name: 'consumer',
    entry: ENTRY_POINTS.consumer,
    env: {
      ...common,
      METRICS_PORT: String(metricsPort),
      ...settings.consumerSettings,
    },
  });
  cleanup.add('stop consumer', () => consumer.stop());
  await waitUntilReady(consumer, `http://127.0.0.1:${metricsPort}/readyz`);

  const port = await findFreePort();
  const producer = spawnService({
    name: 'producer',
    entry: ENTRY_POINTS.producer,
    env: {
      ...common,
      PORT: String(port),
      AUTH_DISABLED: 'true',
      RATE_LIMIT_PER_MINUTE: '0',
      ...settings.producerSettings,
    },
  });
  cleanup.add('stop producer', () => producer.stop());
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(producer, `${baseUrl}/readyz`);

  return {
    baseUrl,
    producerPid: producer.pid,
    consumerPid: consumer.pid,
    userIds: database.userIds,
    serverVersion: database.serverVersion,
    stopConsumer: () => consumer.stop(),
  };
}
