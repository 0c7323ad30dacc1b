import type { Reply, Subscription } from '@subscriptions/contracts';
import express, { Router, type RequestHandler } from 'express';
import type { RpcClient } from '../broker/rpc-client';
import { AppError } from '../errors';
import {
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPathSchema,
} from './schemas';
import { parseOrThrow } from './validation';

/** The largest body accepted, per CONTRACT.md. */
const BODY_LIMIT = '16kb';
const JSON_TYPES = ['application/json', 'application/*+json'];

/** Writes must say they are JSON; anything else is refused before the body is read. */
const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is(JSON_TYPES)) {
    next(new AppError('unsupported_media_type', 'send the body as application/json'));
    return;
  }
  next();
};

const parseJson = express.json({ limit: BODY_LIMIT, type: JSON_TYPES });

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
    case 'invalid_command':
    case 'internal_error':
      throw new AppError('internal_error', 'the command could not be applied');
  }
}

/** The write side: each route validates, sends one command and answers with its reply. */
export function createSubscriptionsRouter(deps: { rpc: Pick<RpcClient, 'call'> }): Router {
  const { rpc } = deps;
  const router = Router();

  router.post('/', requireJson, parseJson, async (req, res) => {
    const body = parseOrThrow(purchaseRequestSchema, req.body, 'body');
    const reply = await rpc.call('purchase', body, res.locals['requestId']);
    const subscription = unwrap(reply);
    res.status(201).location(`/api/v1/subscriptions/${subscription.id}`).json(subscription);
  });

  router.put('/:id/status', requireJson, parseJson, async (req, res) => {
    const { id } = parseOrThrow(subscriptionPathSchema, req.params, 'path');
    const body = parseOrThrow(statusChangeRequestSchema, req.body, 'body');
    const command = body.canceled ? 'cancel' : 'restart';
    const reply = await rpc.call(command, { subscription_id: id }, res.locals['requestId']);
    res.status(200).json(unwrap(reply));
  });

  return router;
}
