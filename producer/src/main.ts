import type { Server } from 'node:http';
import dotenv from 'dotenv';
import pino from 'pino';
import { createApp } from './app';
import { connectBroker } from './broker/connection';
import { createRpcClient } from './broker/rpc-client';
import { ConfigError, loadConfig } from './config';

/** How long a shutdown waits for in-flight requests before closing their sockets. */
const SHUTDOWN_GRACE_MS = 15_000;

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const logger = pino({
    level: config.LOG_LEVEL,
    base: { service: 'producer' },
    redact: ['req.headers.authorization', 'req.headers.cookie'],
  });

  const rpc = createRpcClient({ timeoutMs: config.RPC_TIMEOUT_MS, logger });
  const connection = await connectBroker({ url: config.AMQP_URL, logger, setup: rpc.attach });

  let shuttingDown = false;
  const app = createApp({ rpc, logger, isReady: () => !shuttingDown && rpc.isConnected() });
  const server: Server = app.listen(config.PORT, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    logger.info({ port }, 'listening');
  });
  server.on('error', (error) => {
    logger.fatal({ err: error }, 'cannot listen');
    process.exit(1);
  });

  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info(
      { signal, pending: rpc.pendingCount() },
      'shutting down: finishing requests in hand',
    );
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    await rpc.drain();
    await closed;
    clearTimeout(force);
    await connection.close();
    logger.info('stopped');
    process.exit(0);
  }
  // A second signal during shutdown is ignored: the grace period bounds how long it takes.
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`producer: ${problem}`);
  } else {
    console.error('producer: failed to start:', error);
  }
  process.exit(1);
});
