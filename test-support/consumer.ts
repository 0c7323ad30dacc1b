import amqp from 'amqplib';
import {
  type CommandListener,
  startCommandListener,
} from '../consumer/src/broker/command-listener';
import { assertTopology } from '../consumer/src/broker/topology';
import { createDatabasePool } from '../consumer/src/db/pool';
import { type ConsumerMetrics, createConsumerMetrics } from '../consumer/src/metrics';
import { createBatchExecutor } from '../consumer/src/subscriptions/apply-command';
import { createSubscriptionRepository } from '../consumer/src/subscriptions/repository';
import { mysqlServer } from './database';
import { testLogger } from './logger';

export interface InProcessConsumer {
  metrics: ConsumerMetrics;
  stop(): Promise<void>;
}

/** The consumer's real pieces wired in-process on a vhost and a database of the test's own. */
export async function startInProcessConsumer(options: {
  amqpUrl: string;
  database: string;
  concurrency?: number;
}): Promise<InProcessConsumer> {
  const concurrency = options.concurrency ?? 4;
  const pool = createDatabasePool({
    ...mysqlServer,
    database: options.database,
    connectionLimit: concurrency,
  });
  const connection = await amqp.connect(options.amqpUrl, { noDelay: true });
  const channel = await connection.createChannel();
  await channel.prefetch(concurrency);
  await assertTopology(channel);
  const metrics = createConsumerMetrics();
  const listener: CommandListener = await startCommandListener({
    channel,
    execute: createBatchExecutor(createSubscriptionRepository(pool)),
    logger: testLogger,
    metrics,
  });
  return {
    metrics,
    async stop() {
      await listener.stop();
      await connection.close();
      await pool.end();
    },
  };
}
