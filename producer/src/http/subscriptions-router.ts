import type { CommandName, Reply, Subscription } from '@subscriptions/contracts';
import { DatabaseUnavailableError, type SubscriptionQueries } from '@subscriptions/store';
import { Router, type Request, type Response } from 'express';
import type { RpcClient } from '../broker/rpc-client';
import type { AcceptedCommand, AcceptedCommands } from '../commands/accepted-commands';
import type { CommandIds, CommandTicket } from '../commands/command-ids';
import { AppError } from '../errors';
import type { ProducerMetrics } from '../metrics';
import { confinedUserOf, principalOf } from './auth';
import { commandLocation, commandResource, POLL_AFTER_SECONDS, unwrap } from './command-outcome';
import { createInFlightKeys, readIdempotencyKey } from './idempotency';
import { createJsonBody, requireJson } from './json-body';
import { nameRoute } from './matched-route';
import { readPreference } from './prefer';
import {
  DEFAULT_PAGE_SIZE,
  listQuerySchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPathSchema,
} from './schemas';
import { parseOrThrow } from './validation';

/** Reads by a caller who is not admin see only their own subscriptions; others look absent. */
function ownerFilter(res: Response): number | undefined {
  return confinedUserOf(principalOf(res));
}

function notFound(id: number): AppError {
  return new AppError('subscription_not_found', `subscription ${id} does not exist`);
}

/**
 * `/api/v1/subscriptions`. Writes validate and send one command, then answer with its reply or,
 * when the client prefers (RFC 7240), with 202 and the command to poll; reads go straight to
 * the store's queries.
 */
export function createSubscriptionsRouter(deps: {
  rpc: Pick<RpcClient, 'call' | 'submit'>;
  queries: SubscriptionQueries;
  metrics: ProducerMetrics;
  commandIds: CommandIds;
  accepted: AcceptedCommands;
  /** The RPC deadline: the longest `Prefer: wait` honoured. */
  rpcTimeoutMs: number;
}): Router {
  const { rpc, queries, metrics, commandIds, accepted, rpcTimeoutMs } = deps;
  const router = Router();
  const inFlight = createInFlightKeys();
  const parseJson = createJsonBody();

  /** 202 with the command to poll (RFC 7240). */
  function answerAccepted(res: Response, commandId: string, ticket: CommandTicket): void {
    res
      .status(202)
      .location(commandLocation(commandId))
      .set('Preference-Applied', 'respond-async')
      .set('Retry-After', String(POLL_AFTER_SECONDS))
      .json(commandResource(commandId, ticket, null));
  }

  /** The answer the consumer's reply makes; a replayed one is flagged to the client. */
  function answerReply(
    res: Response,
    command: CommandName,
    reply: Reply,
    answer: (subscription: Subscription) => void,
  ): void {
    if (reply.replayed) {
      metrics.idempotentReplays.inc({ command });
      res.setHeader('Idempotent-Replayed', 'true');
    }
    answer(unwrap(reply));
  }

  /**
   * A repeat of an asynchronous request this process accepted: the stored outcome once the
   * command completed, replayed, or else the same pending command, sent no second time. While
   * the database is away the command reads as pending, as it would at its own Location.
   */
  async function answerKnown(
    res: Response,
    { id, ticket }: AcceptedCommand,
    answer: (subscription: Subscription) => void,
  ): Promise<void> {
    const outcome = await queries.findCommandOutcome(id).catch((error: unknown) => {
      if (error instanceof DatabaseUnavailableError) return null;
      throw error;
    });
    if (outcome) answerReply(res, ticket.type, { ...outcome.reply, replayed: true }, answer);
    else answerAccepted(res, id, ticket);
  }

  /**
   * Sends one command and answers with `answer(subscription)`, with the refusal, or with 202.
   * With an Idempotency-Key, a synchronous repeat of a request still in flight here is a 409,
   * an asynchronous one answers the same command, and a reply the consumer replayed is flagged
   * to the client. Every 504 carries the Location of its command.
   */
  async function send(
    req: Request,
    res: Response,
    command: CommandName,
    body: object,
    answer: (subscription: Subscription) => void,
  ): Promise<void> {
    const key = readIdempotencyKey(req);
    const principal = principalOf(res);
    const preference = readPreference(req, rpcTimeoutMs);
    // Keys are scoped per caller: two users may pick the same key.
    const idempotency = key === undefined ? undefined : { scope: principal.subject, key };
    const release =
      idempotency && !preference.async
        ? inFlight.claim(`${idempotency.scope}\n${idempotency.key}`)
        : null;
    if (idempotency && !preference.async && !release) {
      throw new AppError(
        'idempotency_key_in_flight',
        'a request with this Idempotency-Key is still being processed; retry when it completes',
      );
    }
    const identity =
      idempotency && preference.async
        ? JSON.stringify([idempotency.scope, idempotency.key, command, body])
        : undefined;
    const known = identity === undefined ? undefined : accepted.find(identity);
    if (known) {
      await answerKnown(res, known, answer);
      return;
    }
    const acceptedAt = Date.now();
    const ticket: CommandTicket = {
      type: command,
      owner: principal.subject,
      acceptedAt,
      deadline: preference.async ? undefined : acceptedAt + rpcTimeoutMs,
    };
    const commandId = commandIds.mint(ticket);
    const options = {
      commandId,
      requestId: String(res.locals['requestId']),
      idempotency,
      actingUserId: confinedUserOf(principal),
    };
    const stop = metrics.rpcDuration.startTimer({ command });
    let outcome: string | undefined;
    try {
      const reply = preference.async
        ? await rpc.submit(command, body, { ...options, waitMs: preference.waitMs })
        : await rpc.call(command, body, options);
      if (reply === 'accepted') {
        outcome = 'accepted';
        if (identity !== undefined) accepted.remember(identity, { id: commandId, ticket });
        answerAccepted(res, commandId, ticket);
        return;
      }
      outcome = reply.ok ? 'ok' : reply.error.code;
      answerReply(res, command, reply, answer);
    } catch (error) {
      outcome ??= error instanceof AppError ? error.code : 'internal_error';
      if (error instanceof AppError && (outcome === 'reply_timeout' || outcome === 'reply_lost')) {
        // The broker may hold the command: its outcome will be recorded under its id.
        throw new AppError(
          error.code,
          `${error.message}; poll the Location for the outcome`,
          error.extra,
          { ...error.headers, Location: commandLocation(commandId) },
        );
      }
      throw error;
    } finally {
      stop({ outcome });
      release?.();
    }
  }

  // The writes first: they are the busy routes, and each route passed is a match tried.
  router.post('/', nameRoute, requireJson, parseJson, async (req, res) => {
    const body = parseOrThrow(purchaseRequestSchema, req.body, 'body');
    const principal = principalOf(res);
    if (!principal.admin && body.user_id !== principal.userId) {
      throw new AppError('forbidden', 'a token may purchase only for its own user_id');
    }
    await send(req, res, 'purchase', body, (subscription) =>
      res.status(201).location(`/api/v1/subscriptions/${subscription.id}`).json(subscription),
    );
  });

  router.put('/:id/status', nameRoute, requireJson, parseJson, async (req, res) => {
    const { id } = parseOrThrow(subscriptionPathSchema, req.params, 'path');
    const body = parseOrThrow(statusChangeRequestSchema, req.body, 'body');
    const command = body.canceled ? 'cancel' : 'restart';
    await send(req, res, command, { subscription_id: id }, (subscription) =>
      res.status(200).json(subscription),
    );
  });

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

  return router;
}
