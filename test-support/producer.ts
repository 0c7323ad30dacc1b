import type { Logger } from 'pino';
import { createApp } from '../producer/src/app';
import { connectBroker } from '@subscriptions/platform';
import { createReadPool, createSubscriptionQueries } from '@subscriptions/store';
import { createRpcClient } from '../producer/src/broker/rpc-client';
import { createCommandIds } from '../producer/src/commands/command-ids';
import { createAuthenticator } from '../producer/src/http/auth';
import {
  createTokenVerifier,
  type TokenVerifierOptions,
} from '../producer/src/identity/token-verifier';
import { createProducerMetrics, type ProducerMetrics } from '../producer/src/metrics';
import { mysqlServer } from './database';
import { testLogger } from './logger';

/** What the app needs to mint and read command ids, as the producer's defaults set it. */
export const COMMAND_SETTINGS = {
  commandIds: createCommandIds('test-secret-for-command-ids-0123456789'),
  rpcTimeoutMs: 5_000,
  retentionMs: 24 * 3_600_000,
};

/** What the producer's config says about tokens; the verifier's other pieces come from here. */
export type VerifierSettings = Omit<TokenVerifierOptions, 'logger' | 'metrics' | 'fetchTimeoutMs'> &
  Partial<Pick<TokenVerifierOptions, 'fetchTimeoutMs' | 'logger'>>;

/** The authenticator `main.ts` builds for these settings, or none (auth off) without them. */
export function createTestAuthenticator(
  settings: VerifierSettings | undefined,
  metrics: ProducerMetrics,
) {
  if (!settings) return createAuthenticator({ disabled: true });
  const verifier = createTokenVerifier({
    fetchTimeoutMs: 2_000,
    logger: testLogger,
    ...settings,
    metrics,
  });
  return createAuthenticator({ disabled: false, verifier, metrics });
}

/**
 * The producer's real pieces wired in-process (the HTTP app, the RPC client on a live broker
 * connection, the store's queries on a live pool) on a vhost and a database of the test's own.
 */
export async function startInProcessProducer(options: {
  amqpUrl: string;
  database: string;
  timeoutMs?: number;
  /** Token settings, as the producer's config gives them; auth is off without them. */
  auth?: VerifierSettings;
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
  const metrics = createProducerMetrics({ pendingCalls: () => rpc.pendingCount() });
  const app = createApp({
    ...COMMAND_SETTINGS,
    rpcTimeoutMs: options.timeoutMs ?? COMMAND_SETTINGS.rpcTimeoutMs,
    rpc,
    queries: createSubscriptionQueries(readPool),
    logger: testLogger,
    metrics,
    authenticate: createTestAuthenticator(options.auth, metrics),
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

const noCommand = () => Promise.reject(new Error('no commands in this test'));

/**
 * The app with no broker and no database (lists answer empty, the rest nothing), for tests of
 * what comes before the routes: the bearer token and the rate limit.
 */
export function createFrontDoorApp(options: {
  auth: VerifierSettings;
  logger?: Logger;
  rateLimitPerMinute?: number;
}) {
  const logger = options.logger ?? testLogger;
  const metrics = createProducerMetrics({ pendingCalls: () => 0 });
  const app = createApp({
    ...COMMAND_SETTINGS,
    rpc: { call: noCommand, submit: noCommand },
    queries: {
      findSubscription: () => Promise.resolve(null),
      findHistory: () => Promise.resolve(null),
      listSubscriptions: () => Promise.resolve({ data: [], has_more: false }),
      findCommandOutcome: () => Promise.resolve(null),
      listEvents: () => Promise.resolve({ data: [], has_more: false }),
      ping: () => Promise.resolve(),
    },
    logger,
    metrics,
    authenticate: createTestAuthenticator({ logger, ...options.auth }, metrics),
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    isReady: () => Promise.resolve(true),
  });
  return { app, metrics };
}
