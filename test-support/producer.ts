import { createApp } from '../producer/src/app';
import { connectBroker } from '@subscriptions/platform';
import { createReadPool, createSubscriptionQueries } from '@subscriptions/store';
import { createRpcClient } from '../producer/src/broker/rpc-client';
import { createCommandIds } from '../producer/src/commands/command-ids';
import { type AuthOptions, createAuthenticator } from '../producer/src/http/auth';
import { createProducerMetrics } from '../producer/src/metrics';
import { mysqlServer } from './database';
import { testLogger } from './logger';

/** What the app needs to mint and read command ids, as the producer's defaults set it. */
export const COMMAND_SETTINGS = {
  commandIds: createCommandIds('test-secret-for-command-ids-0123456789'),
  rpcTimeoutMs: 5_000,
  retentionMs: 24 * 3_600_000,
};

/**
 * The producer's real pieces wired in-process (the HTTP app, the RPC client on a live broker
 * connection, the store's queries on a live pool) on a vhost and a database of the test's own.
 */
export async function startInProcessProducer(options: {
  amqpUrl: string;
  database: string;
  timeoutMs?: number;
  auth?: AuthOptions;
  rateLimitPerMinute?: number;
}) {
  const rpc = createRpcClient({
    timeoutMs: options.timeoutMs ?? COMMAND_SETTINGS.rpcTimeoutMs,
    logger: testLogger,
  });
  const connection = await connectBroker({
    url: options.amqpUrl,
    logger: testLogger,
    setup: (model) => rpc.attach(model),
  });
  await connection.waitForConnect();
  const readPool = createReadPool({
    ...mysqlServer,
    database: options.database,
    connectionLimit: 2,
  });
  const app = createApp({
    ...COMMAND_SETTINGS,
    rpcTimeoutMs: options.timeoutMs ?? COMMAND_SETTINGS.rpcTimeoutMs,
    rpc,
    queries: createSubscriptionQueries(readPool),
    logger: testLogger,
    metrics: createProducerMetrics({ pendingCalls: () => rpc.pendingCount() }),
    authenticate: createAuthenticator(options.auth ?? { disabled: true }),
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    isReady: () => Promise.resolve(rpc.isConnected()),
  });
  return {
    app,
    rpc,
    connection,
    // An arrow, not a method: tests take `stop` off the object and call it on its own.
    stop: async () => {
      await connection.close();
      await readPool.end();
    },
  };
}

export type InProcessProducer = Awaited<ReturnType<typeof startInProcessProducer>>;
