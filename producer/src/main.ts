import type { Server } from 'node:http';
import dotenv from 'dotenv';
import {
  createLogger,
  NO_TRACING,
  reportStartFailure,
  startTracing,
  tracingSettingsOf,
} from '@subscriptions/platform/startup';
import {
  configDeprecations,
  loadConfig,
  usesDevelopmentSecret,
  usesIdentityProvider,
} from './config';

/** How long a shutdown waits for in-flight requests before closing their sockets. */
const SHUTDOWN_GRACE_MS = 15_000;
/** How long each of the later shutdown steps may take. */
const CLOSE_TIMEOUT_MS = 5_000;
/** How long a request may wait for the identity provider's keys before it answers 503. */
const KEY_SET_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const tracingSettings = tracingSettingsOf(config);
  const logger = createLogger('producer', config.LOG_LEVEL, {
    traceIds: tracingSettings !== undefined,
  });
  // Before anything loads express, amqplib or mysql2: the instrumentations patch them as they
  // load. Without an endpoint no part of the SDK is loaded.
  const tracing = tracingSettings
    ? await startTracing({ service: 'subscriptions-producer', settings: tracingSettings, logger })
    : NO_TRACING;
  const { closeInOrder, connectBroker, handleStopSignals } =
    await import('@subscriptions/platform');
  const { createReadPool, createSubscriptionQueries, databaseAddress } =
    await import('@subscriptions/store');
  const { createApp } = await import('./app.js');
  const { createRpcClient } = await import('./broker/rpc-client.js');
  const { createCommandIds, UNSIGNED_COMMAND_IDS } = await import('./commands/command-ids.js');
  const { createAuthenticator } = await import('./http/auth.js');
  const { createTokenVerifier } = await import('./identity/token-verifier.js');
  const { createProducerMetrics } = await import('./metrics.js');
  for (const line of configDeprecations(process.env)) logger.warn(line);
  // Before the first connection, which may keep retrying: the warning shows even then.
  if (usesDevelopmentSecret(config)) {
    logger.warn(
      'AUTH_JWT_SECRET is the public development secret from .env.example: anyone can sign tokens; set your own in .env (e.g. openssl rand -base64 48)',
    );
  }

  const rpc = createRpcClient({ timeoutMs: config.RPC_TIMEOUT_MS, logger });
  const connection = await connectBroker({
    url: config.AMQP_URL,
    logger,
    setup: (model) => rpc.attach(model),
  });

  const readPool = createReadPool({
    ...databaseAddress(config),
    connectionLimit: config.READ_POOL_SIZE,
  });
  const queries = createSubscriptionQueries(readPool);

  let shuttingDown = false;
  const isReady = async () =>
    !shuttingDown &&
    rpc.isConnected() &&
    (await queries.ping().then(
      () => true,
      () => false,
    ));
  const metrics = createProducerMetrics({
    pendingCalls: () => rpc.pendingCount(),
    republishedCalls: () => rpc.republishedCount(),
  });
  if (config.AUTH_DISABLED) logger.warn('AUTH_DISABLED=true: every caller acts as admin');
  const verifier = config.AUTH_DISABLED
    ? undefined
    : createTokenVerifier({
        secret: config.AUTH_JWT_SECRET,
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
        jwksUrl: config.AUTH_JWKS_URL,
        userIdClaim: config.AUTH_USER_ID_CLAIM,
        clockToleranceSeconds: config.AUTH_CLOCK_TOLERANCE_SECONDS,
        fetchTimeoutMs: KEY_SET_TIMEOUT_MS,
        logger,
        metrics,
      });
  if (usesIdentityProvider(config)) {
    logger.info(
      { issuer: config.AUTH_ISSUER, jwks_url: config.AUTH_JWKS_URL ?? 'from discovery' },
      'accepting tokens of the identity provider',
    );
  }
  // Not awaited: a provider that is away must not hold up the start; the first token retries.
  void verifier?.warmUp();
  const authenticate = createAuthenticator(
    verifier ? { disabled: false, verifier, metrics } : { disabled: true },
  );
  const app = createApp({
    rpc,
    commandIds: createCommandIds(config.AUTH_JWT_SECRET ?? UNSIGNED_COMMAND_IDS),
    rpcTimeoutMs: config.RPC_TIMEOUT_MS,
    retentionMs: config.COMMAND_RETENTION_HOURS * 3_600_000,
    queries,
    logger,
    metrics,
    isReady,
    authenticate,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
  });
  const server: Server = app.listen(config.PORT, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    logger.info({ port }, 'listening');
  });
  server.on('error', (error) => {
    logger.fatal({ err: error }, 'cannot listen');
    process.exit(1);
  });

  /** Stops taking requests; resolves once those in hand are answered or, past the grace, cut. */
  async function finishRequests(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Kept-alive connections would otherwise linger until their timeout: answers given from now
    // on close theirs, and those that fall idle are closed as they do.
    server.on('request', (_req, res) => res.setHeader('Connection', 'close'));
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    try {
      await rpc.drain();
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(force);
    }
  }

  async function shutdown(signal: string): Promise<boolean> {
    shuttingDown = true;
    logger.info(
      { signal, pending: rpc.pendingCount() },
      'shutting down: finishing requests in hand',
    );
    return closeInOrder(
      [
        // Past the grace the sockets are cut; a call still awaiting its reply is left behind.
        { name: 'requests in hand', close: finishRequests, timeoutMs: SHUTDOWN_GRACE_MS + 1_000 },
        { name: 'broker connection', close: () => connection.close() },
        { name: 'read pool', close: () => readPool.end() },
        { name: 'traces', close: () => tracing.shutdown() },
      ],
      { logger, timeoutMs: CLOSE_TIMEOUT_MS },
    );
  }
  handleStopSignals({ host: process, logger, stop: shutdown });
}

main().catch((error: unknown) => {
  reportStartFailure('producer', error);
  process.exit(1);
});
