import {
  context,
  type Context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { HEADER_REQUEST_ID, QUEUES, type QueueName, type Reply } from '@subscriptions/contracts';
import { currentTraceContext, linkTo } from '@subscriptions/platform';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { ListenerMetrics } from '../metrics';
import type {
  BatchOutcome,
  Command,
  CommandIdentity,
  ExecuteBatch,
} from '../subscriptions/apply-command';
import { createAckTracker } from './ack-tracker';
import { type BatchOptions, createBatchQueue, DEFAULT_BATCHING } from './batch-queue';
import { deadlineOf, identityOf, parseCommand } from './parse-command';
import { isPastDeadline, retryUntil, runWithRetries, type Settlement } from './retry-policy';

export interface CommandListener {
  /** Stops taking commands and resolves once those in hand are answered or handed back. */
  stop(): Promise<void>;
}

const NO_METRICS: ListenerMetrics = {
  processed: () => undefined,
  deadLettered: () => undefined,
  expired: () => undefined,
  retried: () => undefined,
  batch: () => undefined,
};

/**
 * An AMQP short-string property (reply-to, correlation id, message id) as its string: the wire
 * only carries strings there, but amqplib types every property `any`.
 */
function stringProperty(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** What a failed transaction's span says of its error. */
function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A delivery that passed parsing and the deadline check, waiting for its batch. */
interface Pending {
  queue: QueueName;
  message: ConsumeMessage;
  command: Command;
  identity: CommandIdentity;
  retryUntil: number;
  /** Whether the command came with a deadline (else `retryUntil` is our own window). */
  hasDeadline: boolean;
  received: number;
  /**
   * Where its delivery is traced (amqplib's span of it, in the request's trace): its reply, its
   * logs and its settling happen there, whichever batch applied it.
   */
  context: Context;
  /** The command's logger, made only when something is logged (it costs at every message). */
  log: () => Logger;
  done: () => void;
}

/**
 * The consumer's controller: takes deliveries off the three command queues, hands them to the
 * batches (group commit), replies to `reply_to` and acks each only after its batch committed.
 * - poison (unparsable or off-schema) is answered `invalid_command` and dead-lettered;
 * - a command past its deadline is dead-lettered unapplied: the caller has been told 504;
 * - a command the database could not take before its deadline is dead-lettered too; one
 *   without a deadline (asynchronous) is retried for as long as the database is away, and
 *   handed back to the queue only when the consumer stops;
 * - a command that failed alone (retry-policy.ts) is answered `internal_error` and
 *   dead-lettered, never retried in a loop.
 * Whatever is dead-lettered gets its outcome recorded from there (unapplied-recorder.ts).
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
  const inFlight = new Set<Promise<void>>();
  const acks = createAckTracker(channel);
  const consumerTags: string[] = [];
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
    const replyTo = stringProperty(message.properties.replyTo);
    if (!replyTo) return;
    const requestId: unknown = message.properties.headers?.[HEADER_REQUEST_ID];
    settle(
      () =>
        channel.publish('', replyTo, Buffer.from(JSON.stringify(body)), {
          correlationId: stringProperty(message.properties.correlationId),
          contentType: 'application/json',
          headers: { [HEADER_REQUEST_ID]: requestId },
        }),
      log,
    );
  }

  const settled: Settlement<Pending> = {
    answered(item, outcome) {
      reply(item.message, outcome, item.log);
      settle(() => acks.ack(item.message), item.log);
      const result = outcome.replayed ? 'replayed' : outcome.ok ? 'applied' : outcome.error.code;
      metrics.processed(item.command.name, result, (now() - item.received) / 1000);
      if (logger.isLevelEnabled('info')) {
        item.log().info({ command: item.command.name, outcome: result }, 'command processed');
      }
      item.done();
    },
    gaveUp(item) {
      if (item.hasDeadline && !stopping) {
        item.log().warn('database unavailable until the deadline: command dead-lettered unapplied');
        metrics.expired(item.queue);
        settle(() => acks.nack(item.message, false), item.log);
      } else {
        item.log().warn('database unavailable: command handed back to the queue');
        settle(() => acks.nack(item.message, true), item.log);
      }
      item.done();
    },
    failed(item, error) {
      item.log().error({ err: error }, 'command failed, dead-lettered');
      metrics.deadLettered(item.queue, 'error');
      reply(
        item.message,
        { ok: false, error: { code: 'internal_error', message: 'internal error' } },
        item.log,
      );
      settle(() => acks.nack(item.message, false), item.log);
      item.done();
    },
    retrying(items, attempt, delay, error) {
      for (const item of items) metrics.retried(item.command.name);
      logger.warn(
        { err: error, attempt, delay, batch: items.length },
        'transient database failure, retrying',
      );
    },
  };

  /** Each command is settled in its own delivery's context, not in its batch's. */
  const settlement: Settlement<Pending> = {
    answered: (item, outcome) => context.with(item.context, () => settled.answered(item, outcome)),
    gaveUp: (item) => context.with(item.context, () => settled.gaveUp(item)),
    failed: (item, error) => context.with(item.context, () => settled.failed(item, error)),
    retrying: (items, attempt, delay, error) => settled.retrying(items, attempt, delay, error),
  };

  const tracer = trace.getTracer('@subscriptions/consumer');

  /**
   * One transaction of a batch in a span of its own, with its statements below it. It links the
   * delivery of each of its commands; alone, the command is its parent, so the transaction sits
   * in that request's trace; with others, it starts a trace of its own, and each command's span
   * links back to it. With tracing off the span is OpenTelemetry's no-op.
   */
  function executeInSpan(items: readonly Pending[]): Promise<BatchOutcome> {
    const links = items.flatMap((item) => linkTo(item.context) ?? []);
    const parent = items.length === 1 ? (items[0] as Pending).context : ROOT_CONTEXT;
    return tracer.startActiveSpan(
      'process batch',
      {
        kind: SpanKind.CONSUMER,
        links,
        attributes: {
          'messaging.system': 'rabbitmq',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.batch.message_count': items.length,
        },
      },
      parent,
      async (span) => {
        if (items.length > 1 && span.isRecording()) {
          const batch = { context: span.spanContext() };
          for (const item of items) trace.getSpan(item.context)?.addLink(batch);
        }
        try {
          const outcome = await execute(items);
          span.setAttribute('subscriptions.batch.outcome', outcome.kind);
          if (outcome.kind !== 'committed') {
            span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(outcome.error) });
          }
          return outcome;
        } finally {
          span.end();
        }
      },
    );
  }

  const batches = createBatchQueue<Pending>({ ...DEFAULT_BATCHING, ...deps.batching }, (batch) => {
    const started = now();
    return runWithRetries(batch, {
      execute: executeInSpan,
      settle: settlement,
      now,
      isStopping: () => stopping,
    })
      .then(() => metrics.batch(batch.length, (now() - started) / 1000))
      .catch(
        // The executor's own failures are settled inside; this is a settlement that threw (a
        // bug), logged rather than left as an unhandled rejection that would end the process.
        (error: unknown) =>
          logger.error({ err: error, commands: batch.length }, 'batch not settled'),
      );
  });

  function handle(queue: QueueName, message: ConsumeMessage): Promise<void> {
    const headers = message.properties.headers ?? {};
    let child: Logger | undefined;
    const requestId: unknown = headers[HEADER_REQUEST_ID];
    const commandId = stringProperty(message.properties.messageId);
    const log = () =>
      (child ??= logger.child({ request_id: requestId, command_id: commandId, queue }));
    const command = parseCommand(queue, message.content, headers);
    if (typeof command === 'string') {
      log().warn({ reason: command }, 'poison command dead-lettered');
      metrics.deadLettered(queue, 'poison');
      reply(message, { ok: false, error: { code: 'invalid_command', message: command } }, log);
      settle(() => acks.nack(message, false), log);
      return Promise.resolve();
    }

    const deadline = deadlineOf(headers);
    if (deadline !== undefined && isPastDeadline(deadline, now())) {
      log().warn('command past its deadline dead-lettered unapplied');
      metrics.expired(queue);
      settle(() => acks.nack(message, false), log);
      return Promise.resolve();
    }
    const received = now();
    return new Promise<void>((done) => {
      batches.push({
        queue,
        message,
        command,
        identity: { ...identityOf(message), traceContext: currentTraceContext() },
        retryUntil: retryUntil(deadline),
        hasDeadline: deadline !== undefined,
        received,
        context: context.active(),
        log,
        done,
      });
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
