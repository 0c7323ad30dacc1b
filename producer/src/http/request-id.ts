import { randomUUID } from 'node:crypto';
import { REQUEST_ID_PATTERN } from '@subscriptions/contracts';
import type { RequestHandler } from 'express';

/**
 * Accepts the caller's X-Request-Id (or makes one), echoes it and keeps it for logs and errors.
 * Only printable ASCII without spaces is taken, so an id is safe to log and to forward.
 */
export const requestId: RequestHandler = (req, res, next) => {
  const offered = req.get('x-request-id');
  const id = offered && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
  res.locals['requestId'] = id;
  res.setHeader('X-Request-Id', id);
  next();
};
