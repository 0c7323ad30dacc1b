import type { CommandName, Reply, Subscription } from '@subscriptions/contracts';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { RpcClient } from '../broker/rpc-client';
import { AppError } from '../errors';
import type { ProducerMetrics } from '../metrics';
import type { SubscriptionQueries } from '../read-model/subscription-queries';
import { principalOf } from './auth';
import { createInFlightKeys, readIdempotencyKey } from './idempotency';
import { matchedRoutePath } from './matched-route';
import {
  listQuerySchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPathSchema,
} from './schemas';
import { parseOrThrow } from './validation';

/** The largest body accepted (docs/contract.md); a larger one answers 413. */
const BODY_LIMIT = '16kb';
const JSON_TYPES = ['application/json', 'application/*+json'];

/** Writes must say they are JSON; anything else is refused before the body is read. */
const requireJson: RequestHandler = (req, _res, next) => {
  // `req.is` is false for another type and null when there is no body: a JSON request with an
  // empty body goes on to validation (400), a request that declares no type at all is a 415.
  if (!req.get('content-type') || req.is(JSON_TYPES) === false) {
    next(new AppError('unsupported_media_type', 'send the body as application/json'));
    return;
  }
  next();
};

const parseJson = express.json({ limit: BODY_LIMIT, type: JSON_TYPES });

/** Names the matched route for metrics and logs, e.g. `/api/v1/subscriptions/:id/status`. */
const nameRoute: RequestHandler = (req, res, next) => {
  const path = matchedRoutePath(req) ?? '';
  res.locals['route'] = `${req.baseUrl}${path === '/' ? '' : path}`;
  next();
};

/** The subscription, or the consumer's refusal as an AppError the error handler understands. */
function unwrap(reply: Reply): Subscription {
  if (reply.ok) return reply.subscription;
  const { code, message, current_status } = reply.error;
  switch (code) {
    case 'user_not_found':
    case 'subscription_not_found':
      throw new AppError(code, message);
    case 'invalid_transition':
      throw new AppError(code, message, { current_status });
    case 'idempotency_key_reused':
    case 'forbidden':
      throw new AppError(code, message);
    case 'invalid_command':
    case 'internal_error':
      throw new AppError('internal_error', 'the command could not be applied');
  }
}

/** Page size when the client does not ask for one. */
const DEFAULT_PAGE_SIZE = 20;

/** Reads by a caller who is not admin see only their own subscriptions; others look absent. */
function ownerFilter(res: Response): number | undefined {
  const principal = principalOf(res);
  return principal.admin ? undefined : (principal.userId ?? undefined);
}

function notFound(id: number): AppError {
  return new AppError('subscription_not_found', `subscription ${id} does not exist`);
}

/**
 * `/api/v1/subscriptions`. Writes validate, send one command and answer with its reply;
 * reads go straight to the read model.
 */
export function createSubscriptionsRouter(deps: {
  rpc: Pick<RpcClient, 'call'>;
  queries: SubscriptionQueries;
  metrics: ProducerMetrics;
}): Router {
  const { rpc, queries, metrics } = deps;
  const router = Router();
  const inFlight = createInFlightKeys();

  /**
   * Sends one command and returns the reply. With an Idempotency-Key, a repeat of a request
   * still in flight here is a 409, and a reply the consumer replayed is flagged to the client.
   */
  async function send(req: Request, res: Response, command: CommandName, body: object) {
    const key = readIdempotencyKey(req);
    const principal = principalOf(res);
    // Keys are scoped per caller: two users may pick the same key.
    const idempotency = key === undefined ? undefined : { scope: principal.subject, key };
    const release = idempotency ? inFlight.claim(`${idempotency.scope}\n${idempotency.key}`) : null;
    if (idempotency && !release) {
      throw new AppError(
        'idempotency_key_in_flight',
        'a request with this Idempotency-Key is still being processed; retry when it completes',
      );
    }
    const stop = metrics.rpcDuration.startTimer({ command });
    let outcome: string | undefined;
    try {
      const reply = await rpc.call(command, body, {
        requestId: String(res.locals['requestId']),
        idempotency,
        actingUserId: principal.admin ? undefined : (principal.userId ?? undefined),
      });
      outcome = reply.ok ? 'ok' : reply.error.code;
      if (reply.replayed) {
        metrics.idempotentReplays.inc({ command });
        res.setHeader('Idempotent-Replayed', 'true');
      }
      return unwrap(reply);
    } catch (error) {
      outcome ??= error instanceof AppError ? error.code : 'internal_error';
      throw error;
    } finally {
      stop({ outcome });
      release?.();
    }
  }

  router.get('/', nameRoute, async (req, res) => {
    const query = parseOrThrow(listQuerySchema, req.query, 'query');
    const principal = principalOf(res);
    // A caller who is not admin always sees only their own list.
    if (!principal.admin && query.user_id !== undefined && query.user_id !== principal.userId) {
      throw new AppError('forbidden', "only an admin token may list another user's subscriptions");
    }
    const page = await queries.listSubscriptions({
      userId: principal.admin ? query.user_id : (principal.userId ?? undefined),
      status: query.status,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      startingAfter: query.starting_after,
    });
    res.json(page);
  });

  router.get('/:id', nameRoute, async (req, res) => {
    const { id } = parseOrThrow(subscriptionPathSchema, req.params, 'path');
    const subscription = await queries.findSubscription(id, ownerFilter(res));
    if (!subscription) throw notFound(id);
    res.json(subscription);
  });

  router.get('/:id/history', nameRoute, async (req, res) => {
    const { id } = parseOrThrow(subscriptionPathSchema, req.params, 'path');
    const events = await queries.findHistory(id, ownerFilter(res));
    if (!events) throw notFound(id);
    res.json({ data: events });
  });

  router.post('/', nameRoute, requireJson, parseJson, async (req, res) => {
    const body = parseOrThrow(purchaseRequestSchema, req.body, 'body');
    const principal = principalOf(res);
    if (!principal.admin && body.user_id !== principal.userId) {
      throw new AppError('forbidden', 'a token may purchase only for its own user_id');
    }
    const subscription = await send(req, res, 'purchase', body);
    res.status(201).location(`/api/v1/subscriptions/${subscription.id}`).json(subscription);
  });

  router.put('/:id/status', nameRoute, requireJson, parseJson, async (req, res) => {
    const { id } = parseOrThrow(subscriptionPathSchema, req.params, 'path');
    const body = parseOrThrow(statusChangeRequestSchema, req.body, 'body');
    const command = body.canceled ? 'cancel' : 'restart';
    res.status(200).json(await send(req, res, command, { subscription_id: id }));
  });

  return router;
}
