import dotenv from 'dotenv';
import {
  closeInOrder,
  connectBroker,
  createLogger,
  handleStopSignals,
  reportStartFailure,
} from '@subscriptions/platform';
import {
  createDatabasePool,
  createEventOutbox,
  createSubscriptionRepository,
  databaseAddress,
} from '@subscriptions/store';
import { createCommandConsumer } from './broker/command-consumer';
import { loadConfig } from './config';
import { createEventPublisher } from './events/event-publisher';
import { type EventRelay, startEventRelay } from './events/event-relay';
import { createConsumerMetrics } from './metrics';
import { startOpsServer } from './ops-server';
import { createBatchExecutor } from './subscriptions/apply-command';
import { schedulePurge } from './subscriptions/purge';

/** How long a shutdown waits for the commands in hand (a batch's statements time out sooner). */
const COMMANDS_IN_HAND_GRACE_MS = 15_000;
/** How long each of the other shutdown steps may take. */
const CLOSE_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const logger = createLogger('consumer', config.LOG_LEVEL);
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
  // The relay's lead is a lock on a connection of its own, held while it leads.
  const relayPool = config.EVENTS_ENABLED
    ? createDatabasePool({ ...database, connectionLimit: 1 })
    : undefined;
  if (relayPool) {
    relay = startEventRelay({
      outbox: createEventOutbox(relayPool, config.MYSQL_DATABASE),
      publisher,
      logger,
      metrics: metrics.relay,
    });
  }

  let shuttingDown = false;
  const opsServer = await startOpsServer({
    port: config.METRICS_PORT,
    registry: metrics.registry,
    logger,
    isReady: async () =>
      !shuttingDown &&
      commands.isConsuming() &&
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
      ],
      { logger, timeoutMs: CLOSE_TIMEOUT_MS },
    );
  }
  handleStopSignals({ process, logger, stop: shutdown });
}

main().catch((error: unknown) => {
  reportStartFailure('consumer', error);
  process.exit(1);
});
