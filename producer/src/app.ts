import type { SubscriptionQueries } from '@subscriptions/store';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { RpcClient } from './broker/rpc-client';
import { createAcceptedCommands } from './commands/accepted-commands';
import type { CommandIds } from './commands/command-ids';
import { createCommandsRouter } from './http/commands-router';
import { createDocsRouter } from './http/docs-router';
import { accessLog } from './http/access-log';
import { createErrorHandler, notFound } from './http/error-handler';
import { createEventsRouter } from './http/events-router';
import { matchedRoutePath } from './http/matched-route';
import { createRateLimit } from './http/rate-limit';
import { assignRequestId } from './http/request-id';
import { securityHeaders } from './http/security-headers';
import { createSubscriptionsRouter } from './http/subscriptions-router';
import type { ProducerMetrics } from './metrics';

/** Asynchronous commands with an Idempotency-Key remembered per process (accepted-commands.ts). */
const ACCEPTED_COMMANDS_KEPT = 100_000;

export interface AppDeps {
  rpc: Pick<RpcClient, 'call' | 'submit'>;
  /** Mints and reads command ids (commands/command-ids.ts). */
  commandIds: CommandIds;
  /** The RPC deadline: the longest `Prefer: wait` honoured. */
  rpcTimeoutMs: number;
  /** How long command outcomes, like Idempotency-Keys, are kept. */
  retentionMs: number;
  queries: SubscriptionQueries;
  logger: Logger;
  metrics: ProducerMetrics;
  /** Verifies the caller (`createAuthenticator`); runs before every `/api/v1` route. */
  authenticate: RequestHandler;
  /** Requests per minute per caller; 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** Whether the broker and the database are reachable and the process is not shutting down. */
  isReady: () => Promise<boolean>;
}

/**
 * What every request gets before anything else runs: its request id, the security headers, and
 * on finishing its timing under its route template (`/api/v1/subscriptions/:id`, never the raw
 * path, so ids do not explode the label set) and its access log line. One middleware, one
 * `finish` listener: each layer Express passes through costs every request. Routers name their
 * routes in `res.locals.route` (an error answered after leaving a router no longer knows its
 * route otherwise).
 */
function prepareEveryRequest(metrics: ProducerMetrics, logger: Logger): RequestHandler {
  const secure = securityHeaders(
    helmet({
      contentSecurityPolicy: {
        // The docs page must work over plain HTTP too (a local run, compose), so no upgrade.
        directives: { upgradeInsecureRequests: null },
      },
    }),
  );
  const log = accessLog(logger);
  return (req, res, next) => {
    assignRequestId(req, res);
    secure(res);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      metrics.httpDuration.observe(
        { method: req.method, route: routeLabel(req, res), status_code: String(res.statusCode) },
        ms / 1000,
      );
      log(req, res, ms);
    });
    next();
  };
}

function routeLabel(req: Request, res: Response): string {
  const named: unknown = res.locals['route'];
  if (typeof named === 'string') return named;
  const matched = matchedRoutePath(req);
  return matched === undefined ? 'unmatched' : `${req.baseUrl}${matched}`;
}

/** Builds the HTTP app from its collaborators; opens nothing itself. */
export function createApp(deps: AppDeps): Express {
  const { rpc, queries, logger, metrics, isReady, authenticate, rateLimitPerMinute } = deps;
  const { commandIds, rpcTimeoutMs, retentionMs } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Answers are never cached by validators; hashing every body for an ETag is wasted work.
  app.set('etag', false);

  app.use(prepareEveryRequest(metrics, logger));

  // The API first: its writes are the busy path, and every route before them is a match tried.
  app.use(
    '/api/v1',
    authenticate,
    ...(rateLimitPerMinute > 0 ? [createRateLimit(rateLimitPerMinute)] : []),
  );
  const accepted = createAcceptedCommands({ capacity: ACCEPTED_COMMANDS_KEPT, retentionMs });
  app.use(
    '/api/v1/subscriptions',
    createSubscriptionsRouter({ rpc, queries, metrics, commandIds, accepted, rpcTimeoutMs }),
  );
  app.use('/api/v1/commands', createCommandsRouter({ queries, commandIds, retentionMs }));
  app.use('/api/v1/events', createEventsRouter({ queries }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ready = await isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use('/api', createDocsRouter());

  app.use(notFound);
  app.use(createErrorHandler(logger));
  return app;
}
