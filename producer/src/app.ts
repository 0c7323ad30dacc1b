import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { RpcClient } from './broker/rpc-client';
import { createErrorHandler, notFound } from './http/error-handler';
import { requestId } from './http/request-id';
import { createSubscriptionsRouter } from './http/subscriptions-router';

export interface AppDeps {
  rpc: Pick<RpcClient, 'call'>;
  logger: Logger;
  /** Whether the dependencies are reachable and the process is not shutting down. */
  isReady: () => boolean;
}

/** Builds the HTTP app from its collaborators; opens nothing itself. */
export function createApp(deps: AppDeps): Express {
  const { rpc, logger, isReady } = deps;
  const app = express();
  app.disable('x-powered-by');

  app.use(requestId);
  app.use(
    pinoHttp({
      logger,
      genReqId: (_req, res) => res.locals['requestId'],
      customLogLevel: (_req, res, error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
  });

  app.use('/api/v1/subscriptions', createSubscriptionsRouter({ rpc }));

  app.use(notFound);
  app.use(createErrorHandler(logger));
  return app;
}
