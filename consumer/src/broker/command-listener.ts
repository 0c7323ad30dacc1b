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
import { createAckTracker } from './ack-tracker';
import type { Command, CommandIdentity, ExecuteBatch } from '../subscriptions/apply-command';

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

/** A delivery that passed parsing and the deadline check, waiting for its batch. */
interface Pending {
  queue: QueueName;
  message: ConsumeMessage;
  command: Command;
  identity: CommandIdentity;
  deadline: number;
  /** Whether `deadline` came with the command (else it is our retry window). */
  hasDeadline: boolean;
  received: number;
  /** The command's logger, made only when something is logged (it costs at every message). */
  log: () => Logger;
  done: () => void;
}

export interface BatchOptions {
  /** Most commands in one transaction. */
  maxBatch: number;
  /** Most transactions at once (keep within the database pool). */
  maxConcurrentBatches: number;
}

const DEFAULT_BATCHING: BatchOptions = { maxBatch: 64, maxConcurrentBatches: 4 };
const DUPLICATE_KEY = 1062;

/**
 * The consumer's controller: takes deliveries off the three command queues, applies them in
 * batches (group commit), replies to `reply_to` and acks each only after its batch committed.
 * - poison (unparsable or off-schema) is answered `invalid_command` and dead-lettered;
 * - a command past its deadline is dropped: the caller has already been told 504;
 * - deliveries that arrive together share one transaction; while `maxConcurrentBatches`
 *   transactions run, new ones wait and form the next, so batches grow with the load and a
 *   lone command is not delayed;
 * - a transient database failure is retried with backoff until the deadline;
 * - any other failure splits the batch, so a bad command cannot sink its neighbours: alone,
 *   it is answered `internal_error` and dead-lettered, never retried in a loop.
 */
export async function startCommandListener(deps: {
  channel: Channel;
  execute: ExecuteBatch;
  logger: Logger;
  metrics?: ListenerMetrics;
  batching?: Partial<BatchOptions>;
  now?: () => number;
}): Promise<CommandListener> {
  const { channel, execute, logger, metrics = NO_METRICS, now = Date.now } = deps;
  const { maxBatch, maxConcurrentBatches } = { ...DEFAULT_BATCHING, ...deps.batching };
  const inFlight = new Set<Promise<void>>();
  const acks = createAckTracker(channel);
  const consumerTags: string[] = [];
  const waiting: Pending[] = [];
  let running = 0;
  let flushScheduled = false;
  let stopping = false;

  function settle(action: () => void, log: () => Logger): void {
    try {
      action();
    } catch (error) {
      // The channel died under us; the broker will redeliver what we could not ack.
      log().warn({ err: error }, 'could not settle command: channel closed');
    }
  }

  function reply(message: ConsumeMessage, body: Reply, log: () => Logger): void {
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

  function answered(item: Pending, outcome: Reply): void {
    reply(item.message, outcome, item.log);
    settle(() => acks.ack(item.message), item.log);
    const result = outcome.replayed ? 'replayed' : outcome.ok ? 'applied' : outcome.error.code;
    metrics.processed(item.command.name, result, (now() - item.received) / 1000);
    if (logger.isLevelEnabled('info')) {
      item.log().info({ command: item.command.name, outcome: result }, 'command processed');
    }
    item.done();
  }

  function dropped(item: Pending): void {
    if (item.hasDeadline && !stopping) {
      item.log().warn('database unavailable until the deadline: command dropped unapplied');
      metrics.expired(item.queue);
      settle(() => acks.ack(item.message), item.log);
    } else {
      item.log().warn('database unavailable: command handed back to the queue');
      settle(() => acks.nack(item.message, true), item.log);
    }
    item.done();
  }

  function failed(item: Pending, error: unknown): void {
    item.log().error({ err: error }, 'command failed, dead-lettered');
    metrics.deadLettered(item.queue, 'error');
    reply(
      item.message,
      { ok: false, error: { code: 'internal_error', message: 'internal error' } },
      item.log,
    );
    settle(() => acks.nack(item.message, false), item.log);
    item.done();
  }

  /** Runs one batch to its end: every item is answered, dropped or dead-lettered. */
  async function runBatch(batch: Pending[]): Promise<void> {
    let live = batch;
    for (let attempt = 1; live.length > 0; attempt += 1) {
      try {
        const replies = await execute(live.map(({ command, identity }) => ({ command, identity })));
        live.forEach((item, index) => answered(item, replies[index] as Reply));
        return;
      } catch (error) {
        // A twin of one of these commands committed meanwhile: run again to replay it.
        if ((error as { errno?: number }).errno === DUPLICATE_KEY && attempt === 1) continue;
        if (!isTransientDatabaseError(error)) {
          if (live.length === 1) {
            failed(live[0] as Pending, error);
            return;
          }
          for (const item of live) await runBatch([item]);
          return;
        }
        const delay = Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** (attempt - 1));
        const giveUp = (item: Pending) => stopping || now() + delay >= item.deadline;
        live.filter(giveUp).forEach(dropped);
        live = live.filter((item) => !giveUp(item));
        if (live.length === 0) return;
        for (const item of live) metrics.retried(item.command.name);
        logger.warn(
          { err: error, attempt, delay, batch: live.length },
          'transient database failure, retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  function flush(): void {
    flushScheduled = false;
    while (waiting.length > 0 && running < maxConcurrentBatches) {
      const batch = waiting.splice(0, maxBatch);
      running += 1;
      void runBatch(batch).finally(() => {
        running -= 1;
        if (waiting.length > 0) scheduleFlush();
      });
    }
  }

  /** Gathers everything delivered in this turn of the event loop into one batch. */
  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  function handle(queue: QueueName, message: ConsumeMessage): Promise<void> {
    const headers = message.properties.headers ?? {};
    let child: Logger | undefined;
    const log = () =>
      (child ??= logger.child({
        request_id: headers[HEADER_REQUEST_ID],
        command_id: message.properties.messageId,
        queue,
      }));
    const command = parseCommand(queue, message.content, headers);
    if (typeof command === 'string') {
      log().warn({ reason: command }, 'poison command dead-lettered');
      metrics.deadLettered(queue, 'poison');
      reply(message, { ok: false, error: { code: 'invalid_command', message: command } }, log);
      settle(() => acks.nack(message, false), log);
      return Promise.resolve();
    }

    const deadlineHeader = Number(headers[HEADER_DEADLINE]);
    const hasDeadline = Number.isFinite(deadlineHeader) && deadlineHeader > 0;
    if (hasDeadline && now() > deadlineHeader) {
      log().warn('command past its deadline dropped unapplied');
      metrics.expired(queue);
      settle(() => acks.ack(message), log);
      return Promise.resolve();
    }
    const received = now();
    return new Promise<void>((done) => {
      waiting.push({
        queue,
        message,
        command,
        identity: identityOf(message),
        deadline: hasDeadline ? deadlineHeader : received + RETRY_WINDOW_WITHOUT_DEADLINE_MS,
        hasDeadline,
        received,
        log,
        done,
      });
      scheduleFlush();
    });
  }

  for (const queue of QUEUES) {
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (message === null) return; // cancelled by the broker: recovery builds a new channel
      acks.received(message);
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
      acks.flush();
    },
  };
}
