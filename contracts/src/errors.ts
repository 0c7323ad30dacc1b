/**
 * The closed list of error codes the consumer may reply with. The consumer speaks only in
 * these; the producer alone decides which HTTP status each one becomes.
 */
export const REPLY_ERROR_CODES = [
  'user_not_found',
  'subscription_not_found',
  'invalid_transition',
  'idempotency_key_reused',
  'forbidden',
  'invalid_command',
  'command_expired',
  'internal_error',
] as const;
export type ReplyErrorCode = (typeof REPLY_ERROR_CODES)[number];
