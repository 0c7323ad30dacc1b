import type { Response } from 'express';
import type { ErrorCode } from '../errors';

/** The one table from error code to HTTP status and title. */
export const PROBLEMS: Record<ErrorCode, { status: number; title: string }> = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  auth_unavailable: {
    status: 503,
    title: "The identity provider's keys cannot be fetched; the token was not checked",
  },
  forbidden: { status: 403, title: 'This token may not do that' },
  route_not_found: { status: 404, title: 'No such route' },
  subscription_not_found: { status: 404, title: 'No such subscription' },
  command_not_found: { status: 404, title: 'No such command' },
  invalid_transition: { status: 409, title: 'The subscription cannot make this change' },
  idempotency_key_in_flight: {
    status: 409,
    title: 'A request with this Idempotency-Key is still in flight',
  },
  idempotency_key_reused: {
    status: 422,
    title: 'This Idempotency-Key was used for a different request',
  },
  payload_too_large: { status: 413, title: 'The body is too large' },
  unsupported_media_type: { status: 415, title: 'The body must be JSON' },
  rate_limited: { status: 429, title: 'Too many requests; slow down' },
  user_not_found: { status: 422, title: 'No such user' },
  broker_unavailable: { status: 503, title: 'The command was not accepted' },
  command_not_confirmed: { status: 503, title: 'The command was not accepted' },
  overloaded: { status: 503, title: 'Too many requests in flight; the command was not accepted' },
  reply_timeout: { status: 504, title: 'No answer in time; the outcome is unknown' },
  reply_lost: { status: 504, title: 'No answer in time; the outcome is unknown' },
  command_expired: { status: 503, title: 'The command was not applied' },
  database_unavailable: { status: 503, title: 'The database is unreachable' },
  internal_error: { status: 500, title: 'Internal error' },
};

/** Seconds a client should wait before retrying a 503 that does not say otherwise. */
const RETRY_AFTER_SECONDS = 2;

export function problemType(code: ErrorCode): string {
  return `urn:subscriptions:problem:${code}`;
}

/** The RFC 9457 problem document for `code`. */
export function problemBody(
  code: ErrorCode,
  detail: string,
  extra: Readonly<Record<string, unknown>>,
  requestId: unknown,
): Record<string, unknown> {
  const { status, title } = PROBLEMS[code];
  return { type: problemType(code), title, status, detail, code, request_id: requestId, ...extra };
}

/** Writes an RFC 9457 problem+json body for `code`. */
export function sendProblem(
  res: Response,
  code: ErrorCode,
  detail: string,
  extra: Readonly<Record<string, unknown>> = {},
): void {
  const { status } = PROBLEMS[code];
  if (status === 503 && !res.hasHeader('Retry-After')) {
    res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  }
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify(problemBody(code, detail, extra, res.locals['requestId'])));
}
