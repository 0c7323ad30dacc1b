import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { RpcClient } from './broker/rpc-client';
import { createDocsRouter } from './http/docs-router';
import { createErrorHandler, notFound } from './http/error-handler';
import { requestId } from './http/request-id';
import { createSubscriptionsRouter } from './http/subscriptions-router';
import type { SubscriptionQueries } from './read-model/subscription-queries';

export interface AppDeps {
  rpc: Pick<RpcClient, 'call'>;
  queries: SubscriptionQueries;
  logger: Logger;
  /** Whether the broker and the database are reachable and the process is not shutting down. */
  isReady: () => Promise<boolean>;
}

/** Builds the HTTP app from its collaborators; opens nothing itself. */
export function createApp(deps: AppDeps): Express {
  const { rpc, queries, logger, isReady } = deps;
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
  app.get('/readyz', async (_req, res) => {
    const ready = await isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
  });

  app.use('/api', createDocsRouter());
  app.use('/api/v1/subscriptions', createSubscriptionsRouter({ rpc, queries }));

  app.use(notFound);
  app.use(createErrorHandler(logger));
  return app;
}
