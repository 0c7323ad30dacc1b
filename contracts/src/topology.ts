/** Names of the broker objects both processes rely on (docs/contract.md, "Broker"). */
export const EXCHANGE = 'SUBSCRIPTIONS';

export const QUEUES = ['PURCHASED', 'CANCELED', 'RESTARTED'] as const;
export type QueueName = (typeof QUEUES)[number];

/** Routing keys follow `<EXCHANGE>_<QUEUE>`. */
export function routingKeyFor(queue: QueueName): string {
  return `${EXCHANGE}_${queue}`;
}

/** Where rejected, poison and expired commands are parked for an operator to inspect. */
export const DEAD_LETTER_EXCHANGE = 'SUBSCRIPTIONS.DLX';
export const DEAD_LETTER_QUEUE = 'SUBSCRIPTIONS.DEAD_LETTER';
/**
 * A second queue on the dead-letter exchange, read by the consumer: every command that ends
 * there unapplied gets its outcome recorded, so the command resource reads `completed`.
 */
export const UNAPPLIED_QUEUE = 'SUBSCRIPTIONS.DEAD_LETTER.OUTCOMES';

/**
 * Arguments of the command queues. RabbitMQ refuses to redeclare a queue with different
 * arguments, so these are fixed for the life of a deployment.
 */
export const COMMAND_QUEUE_ARGUMENTS = {
  'x-queue-type': 'quorum',
  'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE,
  'x-delivery-limit': 5,
} as const;

/** The broker's pseudo-queue for direct replies: no queue to declare or clean up. */
export const DIRECT_REPLY_QUEUE = 'amq.rabbitmq.reply-to';

export const HEADER_REQUEST_ID = 'x-request-id';
/**
 * A request id the service keeps (the producer's X-Request-Id, the header above, the history's
 * and the command records' columns): printable ASCII without spaces, at most 128 characters.
 */
export const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
/**
 * Absolute deadline of a command, epoch milliseconds; the consumer drops commands past it. An
 * asynchronous command has none: it waits in the queue until it can be applied.
 */
export const HEADER_DEADLINE = 'x-deadline';
/** The client's Idempotency-Key, and the scope (the caller) it belongs to. */
export const HEADER_IDEMPOTENCY_KEY = 'x-idempotency-key';
export const HEADER_IDEMPOTENCY_SCOPE = 'x-idempotency-scope';
/**
 * The user a command is restricted to (a caller without the admin scope). The consumer applies
 * it only to that user's subscriptions; absent means any user's.
 */
export const HEADER_ACTING_USER = 'x-acting-user-id';
