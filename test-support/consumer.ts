import { createDatabasePool, createSubscriptionRepository } from '@subscriptions/store';
import amqp from 'amqplib';
import { createCommandConsumer } from '../consumer/src/broker/command-consumer';
import { type ConsumerMetrics, createConsumerMetrics } from '../consumer/src/metrics';
import { createBatchExecutor } from '../consumer/src/subscriptions/apply-command';
import { mysqlServer } from './database';
import { testLogger } from './logger';

export interface InProcessConsumer {
  metrics: ConsumerMetrics;
  stop(): Promise<void>;
}

/**
 * The consumer's real pieces wired in-process on a vhost and a database of the test's own: the
 * command listener and the unapplied recorder, on one connection without recovery.
 */
export async function startInProcessConsumer(options: {
  amqpUrl: string;
  database: string;
  concurrency?: number;
  /** Awaited before each batch: a test holds the consumer up with it (a slow consumer). */
  beforeBatch?: () => Promise<void>;
}): Promise<InProcessConsumer> {
  const concurrency = options.concurrency ?? 4;
  const pool = createDatabasePool({
    ...mysqlServer,
    database: options.database,
    connectionLimit: concurrency,
  });
  const repository = createSubscriptionRepository(pool);
  const metrics = createConsumerMetrics();
  const execute = createBatchExecutor(repository);
  const { beforeBatch } = options;
  const commands = createCommandConsumer({
    prefetch: concurrency,
    execute: beforeBatch ? async (items) => (await beforeBatch(), execute(items)) : execute,
    recordUnapplied: (command) => repository.recordUnapplied(command, new Date()),
    logger: testLogger,
    metrics,
  });
  const connection = await amqp.connect(options.amqpUrl, { noDelay: true });
  await commands.attach(connection);
  return {
    metrics,
    async stop() {
      await commands.stop();
      await connection.close();
      await pool.end();
    },
  };
}
