/** Every way a request can fail, by stable code; `http/problem.ts` maps each to a status. */
export const ERROR_CODES = [
  'validation_failed',
  'malformed_json',
  'unauthorized',
  'auth_unavailable',
  'forbidden',
  'route_not_found',
  'subscription_not_found',
  'command_not_found',
  'invalid_transition',
  'idempotency_key_in_flight',
  'idempotency_key_reused',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'user_not_found',
  'broker_unavailable',
  'overloaded',
  'command_not_confirmed',
  'reply_timeout',
  'reply_lost',
  'command_expired',
  'database_unavailable',
  'internal_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The producer's one error type: a code, a sentence for the client, and optional extras. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
    /** Response headers that belong with this error, e.g. `WWW-Authenticate` on a 401. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}
