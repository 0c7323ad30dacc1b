import {
  COMMANDS,
  HEADER_ACTING_USER,
  HEADER_DEADLINE,
  HEADER_IDEMPOTENCY_KEY,
  HEADER_IDEMPOTENCY_SCOPE,
  HEADER_REQUEST_ID,
  idSchema,
  purchaseCommandSchema,
  QUEUES,
  subscriptionCommandSchema,
  type CommandName,
  type QueueName,
  type Reply,
} from '@subscriptions/contracts';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { isTransientDatabaseError } from '../db/errors';
import type { ListenerMetrics } from '../metrics';
import type { Command, CommandIdentity, ExecuteCommand } from '../subscriptions/apply-command';

export interface CommandListener {
  /** Stops taking commands and resolves once those in hand are answered or handed back. */
  stop(): Promise<void>;
}

/** Without a deadline header a transient failure is retried this long before the command is requeued. */
const RETRY_WINDOW_WITHOUT_DEADLINE_MS = 30_000;
const MAX_RETRY_DELAY_MS = 2_000;

const NO_METRICS: ListenerMetrics = {
  processed: () => undefined,
  deadLettered: () => undefined,
  expired: () => undefined,
  retried: () => undefined,
};

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

/** The message id and, when the client sent one, its scoped Idempotency-Key. */
export function identityOf(message: ConsumeMessage): CommandIdentity {
  const headers = message.properties.headers ?? {};
  const key: unknown = headers[HEADER_IDEMPOTENCY_KEY];
  const scope: unknown = headers[HEADER_IDEMPOTENCY_SCOPE];
  const messageId: unknown = message.properties.messageId;
  return {
    messageId: typeof messageId === 'string' && messageId !== '' ? messageId : undefined,
    idempotency:
      typeof key === 'string' && key.length > 0 && key.length <= 255 && typeof scope === 'string'
        ? { scope, key }
        : undefined,
  };
}

function describe(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}

/**
 * The consumer's controller: takes deliveries off the three command queues, runs each
 * through `execute`, replies to `reply_to` and acks only after the commit.
 * - poison (unparsable or off-schema) is answered `invalid_command` and dead-lettered;
 * - a command past its deadline is dropped: the caller has already been told 504;
 * - a transient database failure is retried with backoff until the deadline;
 * - any other failure is answered `internal_error` and dead-lettered, never retried in a loop.
 */
export async function startCommandListener(deps: {
  channel: Channel;
  execute: ExecuteCommand;
  logger: Logger;
  metrics?: ListenerMetrics;
  now?: () => number;
}): Promise<CommandListener> {
  const { channel, execute, logger, metrics = NO_METRICS, now = Date.now } = deps;
  const inFlight = new Set<Promise<void>>();
  const consumerTags: string[] = [];
  let stopping = false;

  function settle(action: () => void, log: Logger): void {
    try {
      action();
    } catch (error) {
      // The channel died under us; the broker will redeliver what we could not ack.
      log.warn({ err: error }, 'could not settle command: channel closed');
    }
  }

  function reply(message: ConsumeMessage, body: Reply, log: Logger): void {
    const { replyTo, correlationId } = message.properties;
    if (!replyTo) return;
    settle(
      () =>
        channel.publish('', String(replyTo), Buffer.from(JSON.stringify(body)), {
          correlationId,
          contentType: 'application/json',
          headers: { [HEADER_REQUEST_ID]: message.properties.headers?.[HEADER_REQUEST_ID] },
        }),
      log,
    );
  }

  async function executeWithRetry(
    command: Command,
    identity: CommandIdentity,
    deadline: number,
    log: Logger,
  ): Promise<Reply | 'gave-up'> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await execute(command, identity);
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        const delay = Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** (attempt - 1));
        if (stopping || now() + delay >= deadline) return 'gave-up';
        metrics.retried(command.name);
        log.warn({ err: error, attempt, delay }, 'transient database failure, retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async function handle(queue: QueueName, message: ConsumeMessage): Promise<void> {
    const headers = message.properties.headers ?? {};
    const log = logger.child({
      request_id: headers[HEADER_REQUEST_ID],
      command_id: message.properties.messageId,
      queue,
    });
    const command = parseCommand(queue, message.content, headers);
    if (typeof command === 'string') {
      log.warn({ reason: command }, 'poison command dead-lettered');
      metrics.deadLettered(queue, 'poison');
      reply(message, { ok: false, error: { code: 'invalid_command', message: command } }, log);
      settle(() => channel.nack(message, false, false), log);
      return;
    }

    const deadlineHeader = Number(headers[HEADER_DEADLINE]);
    const hasDeadline = Number.isFinite(deadlineHeader) && deadlineHeader > 0;
    if (hasDeadline && now() > deadlineHeader) {
      log.warn('command past its deadline dropped unapplied');
      metrics.expired(queue);
      settle(() => channel.ack(message), log);
      return;
    }
    const deadline = hasDeadline ? deadlineHeader : now() + RETRY_WINDOW_WITHOUT_DEADLINE_MS;
    const started = now();

    try {
      const outcome = await executeWithRetry(command, identityOf(message), deadline, log);
      if (outcome === 'gave-up') {
        if (hasDeadline && !stopping) {
          log.warn('database unavailable until the deadline: command dropped unapplied');
          metrics.expired(queue);
          settle(() => channel.ack(message), log);
        } else {
          log.warn('database unavailable: command handed back to the queue');
          settle(() => channel.nack(message, false, true), log);
        }
        return;
      }
      reply(message, outcome, log);
      settle(() => channel.ack(message), log);
      const result = outcome.replayed ? 'replayed' : outcome.ok ? 'applied' : outcome.error.code;
      metrics.processed(command.name, result, (now() - started) / 1000);
      log.info(
        {
          command: command.name,
          outcome: outcome.ok ? 'applied' : outcome.error.code,
          replayed: outcome.replayed === true,
        },
        'command processed',
      );
    } catch (error) {
      log.error({ err: error }, 'command failed, dead-lettered');
      metrics.deadLettered(queue, 'error');
      reply(
        message,
        { ok: false, error: { code: 'internal_error', message: 'internal error' } },
        log,
      );
      settle(() => channel.nack(message, false, false), log);
    }
  }

  for (const queue of QUEUES) {
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (message === null) return; // cancelled by the broker: recovery builds a new channel
      const work = handle(queue, message).finally(() => inFlight.delete(work));
      inFlight.add(work);
    });
    consumerTags.push(consumerTag);
  }

  return {
    async stop() {
      stopping = true;
      await Promise.allSettled(consumerTags.map((tag) => channel.cancel(tag)));
      await Promise.allSettled([...inFlight]);
    },
  };
}
