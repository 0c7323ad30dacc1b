import dotenv from 'dotenv';
import {
  createLogger,
  NO_TRACING,
  reportStartFailure,
  startTracing,
  tracingSettingsOf,
} from '@subscriptions/platform/startup';
import { configDeprecations, loadConfig } from './config';
import type { EventRelay } from './events/event-relay';

/** How long a shutdown waits for the commands in hand (a batch's statements time out sooner). */
const COMMANDS_IN_HAND_GRACE_MS = 15_000;
/** How long each of the other shutdown steps may take. */
const CLOSE_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const tracingSettings = tracingSettingsOf(config);
  const logger = createLogger('consumer', config.LOG_LEVEL, {
    traceIds: tracingSettings !== undefined,
  });
  // Before anything loads amqplib or mysql2: the instrumentations patch them as they load.
  // Without an endpoint no part of the SDK is loaded.
  const tracing = tracingSettings
    ? await startTracing({ service: 'subscriptions-consumer', settings: tracingSettings, logger })
    : NO_TRACING;
  const { closeInOrder, connectBroker, handleStopSignals } =
    await import('@subscriptions/platform');
  const { createDatabasePool, createEventOutbox, createSubscriptionRepository, databaseAddress } =
    await import('@subscriptions/store');
  const { createCommandConsumer } = await import('./broker/command-consumer.js');
  const { createEventPublisher } = await import('./events/event-publisher.js');
  const { startEventRelay } = await import('./events/event-relay.js');
  const { createConsumerMetrics } = await import('./metrics.js');
  const { startOpsServer } = await import('./ops-server.js');
  const { createBatchExecutor } = await import('./subscriptions/apply-command.js');
  const { schedulePurge } = await import('./subscriptions/purge.js');
  for (const line of configDeprecations(process.env)) logger.warn(line);
  const database = databaseAddress(config);
  const pool = createDatabasePool({
    ...database,
    connectionLimit: config.CONSUMER_TRANSACTIONS + 1,
  });
  const repository = createSubscriptionRepository(pool);
  const metrics = createConsumerMetrics();
  const publisher = createEventPublisher(logger);
  let relay: EventRelay | undefined;
  const executeBatch = createBatchExecutor(repository);

  const commands = createCommandConsumer({
    prefetch: config.CONSUMER_CONCURRENCY,
    execute: async (items) => {
      const outcome = await executeBatch(items);
      // Its events are committed: the relay, if it runs here, publishes them now.
      if (outcome.kind === 'committed') relay?.wake();
      return outcome;
    },
    recordUnapplied: (command) => repository.recordUnapplied(command, new Date()),
    logger,
    metrics,
    batching: {
      maxBatch: config.BATCH_SIZE,
      maxConcurrentBatches: config.CONSUMER_TRANSACTIONS,
      maxLingerMs: config.BATCH_LINGER_MS,
    },
  });
  const connection = await connectBroker({
    url: config.AMQP_URL,
    logger,
    setup: async (model) => {
      await commands.attach(model);
      await publisher.attach(model);
    },
  });
  // The relay reads and renews its lease on a connection of its own: never behind a batch.
  const relayPool = config.EVENTS_ENABLED
    ? createDatabasePool({ ...database, connectionLimit: 1 })
    : undefined;
  if (relayPool) {
    // Its polls and lease renewals make no spans; each event it publishes goes out in the
    // trace of the request that made it.
    relay = tracing.untraced(() =>
      startEventRelay({
        outbox: createEventOutbox(relayPool),
        publisher,
        logger,
        metrics: metrics.relay,
      }),
    );
  }

  let shuttingDown = false;
  const opsServer = await startOpsServer({
    port: config.METRICS_PORT,
    registry: metrics.registry,
    logger,
    isReady: async () =>
      !shuttingDown &&
      commands.isConsuming() &&
      (await repository.ping().then(
        () => true,
        () => false,
      )),
  });

  const purge = tracing.untraced(() =>
    schedulePurge({
      repository,
      retentionMs: config.COMMAND_RETENTION_HOURS * 3_600_000,
      logger,
    }),
  );

  async function shutdown(signal: string): Promise<boolean> {
    shuttingDown = true;
    purge.stop();
    logger.info({ signal }, 'shutting down: finishing commands in hand');
    return closeInOrder(
      [
        {
          name: 'commands in hand',
          close: () => commands.stop(),
          timeoutMs: COMMANDS_IN_HAND_GRACE_MS,
        },
        { name: 'event relay', close: async () => relay?.stop() },
        {
          name: 'broker connection',
          close: () => {
            publisher.close();
            return connection.close();
          },
        },
        { name: 'database pool', close: () => Promise.all([pool.end(), relayPool?.end()]) },
        { name: 'ops server', close: () => new Promise((resolve) => opsServer.close(resolve)) },
        { name: 'traces', close: () => tracing.shutdown() },
      ],
      { logger, timeoutMs: CLOSE_TIMEOUT_MS },
    );
  }
  handleStopSignals({ host: process, logger, stop: shutdown });
}

main().catch((error: unknown) => {
  reportStartFailure('consumer', error);
  process.exit(1);
});
