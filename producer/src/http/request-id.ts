import { randomUUID } from 'node:crypto';
import { REQUEST_ID_PATTERN } from '@subscriptions/contracts';
import type { Request, Response } from 'express';

/**
 * Accepts the caller's X-Request-Id (or makes one), echoes it and keeps it for logs and errors.
 * Only printable ASCII without spaces is taken, so an id is safe to log and to forward.
 */
export function assignRequestId(req: Request, res: Response): void {
  const offered = req.headers['x-request-id'];
  const id =
    typeof offered === 'string' && offered && REQUEST_ID_PATTERN.test(offered)
      ? offered
      : randomUUID();
  res.locals['requestId'] = id;
  res.setHeader('X-Request-Id', id);
}
