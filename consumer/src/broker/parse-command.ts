import {
  COMMANDS,
  HEADER_ACTING_USER,
  HEADER_DEADLINE,
  HEADER_IDEMPOTENCY_KEY,
  HEADER_IDEMPOTENCY_SCOPE,
  HEADER_REQUEST_ID,
  idSchema,
  purchaseCommandSchema,
  REQUEST_ID_PATTERN,
  subscriptionCommandSchema,
  type CommandName,
  type QueueName,
} from '@subscriptions/contracts';
import type { ConsumeMessage } from 'amqplib';
import type { Command, CommandIdentity } from '../subscriptions/apply-command';

const COMMAND_BY_QUEUE = Object.fromEntries(
  Object.entries(COMMANDS).map(([name, { queue }]) => [queue, name as CommandName]),
) as Record<QueueName, CommandName>;

/** Reads a delivery as the command of its queue; a reason string when it is poison. */
export function parseCommand(
  queue: QueueName,
  content: Buffer,
  headers: Record<string, unknown> = {},
): Command | string {
  const acting: unknown = headers[HEADER_ACTING_USER];
  let actingUserId: number | undefined;
  if (acting !== undefined) {
    const parsed = idSchema.safeParse(typeof acting === 'string' ? Number(acting) : acting);
    if (!parsed.success) return `${HEADER_ACTING_USER} is not a user id`;
    actingUserId = parsed.data;
  }
  let json: unknown;
  try {
    json = JSON.parse(content.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  const name = COMMAND_BY_QUEUE[queue];
  if (name === 'purchase') {
    const result = purchaseCommandSchema.safeParse(json);
    return result.success
      ? { name, body: result.data, actingUserId }
      : describe(result.error.issues);
  }
  const result = subscriptionCommandSchema.safeParse(json);
  return result.success ? { name, body: result.data, actingUserId } : describe(result.error.issues);
}

/** The message id, the request id and, when the client sent one, its scoped Idempotency-Key. */
export function identityOf(message: ConsumeMessage): CommandIdentity {
  const headers = message.properties.headers ?? {};
  const key: unknown = headers[HEADER_IDEMPOTENCY_KEY];
  const scope: unknown = headers[HEADER_IDEMPOTENCY_SCOPE];
  const requestId: unknown = headers[HEADER_REQUEST_ID];
  const messageId: unknown = message.properties.messageId;
  return {
    messageId: typeof messageId === 'string' && messageId !== '' ? messageId : undefined,
    // A publisher other than the producer may send anything: an id the database cannot keep
    // would fail the whole batch, so it is dropped instead.
    requestId:
      typeof requestId === 'string' && REQUEST_ID_PATTERN.test(requestId) ? requestId : undefined,
    idempotency:
      typeof key === 'string' && key.length > 0 && key.length <= 255 && typeof scope === 'string'
        ? { scope, key }
        : undefined,
  };
}

/** The absolute deadline (epoch ms) the producer set, or `undefined` when there is none. */
export function deadlineOf(headers: Record<string, unknown> = {}): number | undefined {
  const deadline = Number(headers[HEADER_DEADLINE]);
  return Number.isFinite(deadline) && deadline > 0 ? deadline : undefined;
}

function describe(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}
