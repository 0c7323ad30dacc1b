import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

/** Printable ASCII without spaces, so a client's id is safe to log and to forward as a header. */
const ACCEPTABLE_ID = /^[\x21-\x7e]{1,128}$/;

/** Accepts the caller's X-Request-Id (or makes one), echoes it and keeps it for logs and errors. */
export const requestId: RequestHandler = (req, res, next) => {
  const offered = req.get('x-request-id');
  const id = offered && ACCEPTABLE_ID.test(offered) ? offered : randomUUID();
  res.locals['requestId'] = id;
  res.setHeader('X-Request-Id', id);
  next();
};
