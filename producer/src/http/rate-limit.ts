import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { AppError } from '../errors';
import { principalOf } from './auth';

/**
 * Requests per minute per caller: the token's subject, or the client address when auth is off.
 * Runs after authentication, so one user cannot spend another's allowance. Every answer it
 * passes carries the standard `RateLimit` and `RateLimit-Policy` headers; a 429 adds
 * `Retry-After`, the seconds left in the caller's window.
 */
export function createRateLimit(perMinute: number): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req, res) => {
      const { userId, subject } = principalOf(res);
      return userId === null ? `ip:${ipKeyGenerator(req.ip ?? '')}` : `sub:${subject}`;
    },
    // The limiter has set Retry-After to the seconds left in this caller's window already.
    handler: (_req, _res, next) => {
      next(
        new AppError('rate_limited', `more than ${perMinute} requests in a minute; retry later`),
      );
    },
  });
}
