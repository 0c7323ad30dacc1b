import dotenv from 'dotenv';
import type { Channel } from 'amqplib';
import pino from 'pino';
import { type CommandListener, startCommandListener } from './broker/command-listener';
import { connectBroker } from './broker/connection';
import { assertTopology } from './broker/topology';
import { ConfigError, loadConfig } from './config';
import { createDatabasePool } from './db/pool';
import { createConsumerMetrics } from './metrics';
import { startOpsServer } from './ops-server';
import { createBatchExecutor } from './subscriptions/apply-command';
import { schedulePurge } from './subscriptions/purge';
import { createSubscriptionRepository } from './subscriptions/repository';

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'consumer' } });
  const pool = createDatabasePool({
    host: config.MYSQL_HOST,
    port: config.MYSQL_PORT,
    user: config.MYSQL_USER,
    password: config.MYSQL_PASSWORD,
    database: config.MYSQL_DATABASE,
    connectionLimit: config.CONSUMER_TRANSACTIONS + 1,
  });
  const repository = createSubscriptionRepository(pool);
  const execute = createBatchExecutor(repository);
  const metrics = createConsumerMetrics();

  let listener: CommandListener | undefined;
  let consuming = false;
  let shuttingDown = false;
  const connection = await connectBroker({
    url: config.AMQP_URL,
    logger,
    async setup(model) {
      const channel: Channel = await model.createChannel();
      channel.on('error', (error: Error) => logger.warn({ err: error }, 'channel error'));
      // A channel can die alone (a protocol error); closing its connection lets recovery
      // rebuild everything through this same setup.
      channel.on('close', () => {
        if (!shuttingDown) model.close().catch(() => undefined);
      });
      await channel.prefetch(config.CONSUMER_CONCURRENCY);
      await assertTopology(channel);
      listener = await startCommandListener({
        channel,
        execute,
        logger,
        metrics,
        batching: {
          maxBatch: config.BATCH_SIZE,
          maxConcurrentBatches: config.CONSUMER_TRANSACTIONS,
        },
      });
      consuming = true;
      logger.info({ concurrency: config.CONSUMER_CONCURRENCY }, 'consuming commands');
    },
  });

  connection.on('disconnect', () => {
    consuming = false;
  });
  const opsServer = await startOpsServer({
    port: config.METRICS_PORT,
    registry: metrics.registry,
    logger,
    isReady: async () =>
      !shuttingDown &&
      consuming &&
      (await pool.query('SELECT 1').then(
        () => true,
        () => false,
      )),
  });

  const purge = schedulePurge({
    repository,
    retentionMs: config.PROCESSED_RETENTION_HOURS * 3_600_000,
    logger,
  });

  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    purge.stop();
    logger.info({ signal }, 'shutting down: finishing commands in hand');
    await listener?.stop();
    await connection.close();
    await pool.end();
    await new Promise((resolve) => opsServer.close(resolve));
    logger.info('stopped');
    process.exit(0);
  }
  // A second signal during shutdown is ignored: the grace period bounds how long it takes.
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`consumer: ${problem}`);
  } else {
    console.error('consumer: failed to start:', error);
  }
  process.exit(1);
});
