import { randomUUID } from 'node:crypto';
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  COMMANDS,
  DIRECT_REPLY_QUEUE,
  EXCHANGE,
  HEADER_ACTING_USER,
  HEADER_DEADLINE,
  HEADER_IDEMPOTENCY_KEY,
  HEADER_IDEMPOTENCY_SCOPE,
  HEADER_REQUEST_ID,
  replySchema,
  routingKeyFor,
  type CommandName,
  type Reply,
} from '@subscriptions/contracts';
import { closeConnectionWhenChannelDies } from '@subscriptions/platform';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import type { Logger } from 'pino';
import { AppError } from '../errors';

export interface RpcClient {
  /** Recovery setup: builds the confirm channel and the reply consumer on a new connection. */
  attach(model: ChannelModel): Promise<void>;
  /**
   * Publishes a command that expires at the deadline and resolves with the consumer's reply,
   * or rejects with an AppError.
   */
  call(command: CommandName, body: object, options: CallOptions): Promise<Reply>;
  /**
   * Publishes an asynchronous command, one that waits in the queue until it can be applied, and
   * resolves with its reply if that comes within `waitMs`, else with `'accepted'` once the broker
   * has confirmed it; rejects as `call` does when the broker does not take it.
   */
  submit(
    command: CommandName,
    body: object,
    options: CallOptions & { waitMs: number },
  ): Promise<Reply | 'accepted'>;
  /** True while a channel is open to publish on. */
  isConnected(): boolean;
  /** Calls awaiting their reply. */
  pendingCount(): number;
  /** Commands published again after the broker nacked them, since the start. */
  republishedCount(): number;
  /** Refuses new calls and resolves once every pending call has settled. */
  drain(): Promise<void>;
}

export interface CallOptions {
  /** The command id, sent as the message id: the consumer records the outcome under it. */
  commandId: string;
  requestId: string;
  /** The client's Idempotency-Key and the caller it is scoped to. */
  idempotency?: { scope: string; key: string } | undefined;
  /** Restricts the command to this user's subscriptions (a caller who is not admin). */
  actingUserId?: number | undefined;
}

/** Backoff between re-publishes of a nacked command: the first wait, doubling up to the last. */
const REPUBLISH_FIRST_DELAY_MS = 100;
const REPUBLISH_MAX_DELAY_MS = 1_000;

interface PendingCall {
  correlationId: string;
  /** Where its publish in flight or confirmed went (its reply comes back there); none after a nack. */
  channel: ConfirmChannel | undefined;
  /** A publish awaits its confirm. */
  inFlight: boolean;
  /** The broker acked one of its publishes. */
  confirmed: boolean;
  /** Publishes made, and waits scheduled after a nack (the backoff doubles with each). */
  publishes: number;
  retries: number;
  deadline: number;
  timer: NodeJS.Timeout;
  /** When an asynchronous call stops waiting for its reply. */
  wait: NodeJS.Timeout | undefined;
  retry: NodeJS.Timeout | undefined;
  /** An asynchronous call whose wait is over: it resolves `'accepted'` on its confirm. */
  acceptOnConfirm: boolean;
  /** Publishes the command on `channel`, with the same message id every time. */
  publishOn(channel: ConfirmChannel): boolean;
  resolve(reply: Reply | 'accepted'): void;
  reject(error: AppError): void;
}

/**
 * Ends a command's span with its outcome: `ok`, `accepted`, the code of the consumer's refusal,
 * or, as an error of the span, the code of the failure that answered the caller.
 */
function endCommandSpan(span: Span, outcome: string, failure?: AppError): void {
  span.setAttribute('subscriptions.command.outcome', outcome);
  if (failure) span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
  span.end();
}

/** How a call waits: for the reply until the deadline, or for `waitMs` and then its confirm. */
type CallMode = { kind: 'sync' } | { kind: 'async'; waitMs: number };

/**
 * Request/reply over RabbitMQ. Each call publishes a persistent, mandatory command on a
 * long-lived confirm channel and waits for the reply on the direct reply-to pseudo-queue.
 * A nacked command is published again, with backoff, on a new channel until its deadline: a
 * channel can keep nacking every publish after a cluster node dies. Every pending entry leaves
 * the map exactly once: on its reply, its deadline, an unroutable return, or the loss of the
 * channel it was published on.
 */
export function createRpcClient(deps: {
  timeoutMs: number;
  logger: Logger;
  /** Calls allowed to wait at once; past it a call is refused (503) rather than queued. */
  maxPending?: number;
}): RpcClient {
  const { timeoutMs, logger, maxPending = 10_000 } = deps;
  const tracer = trace.getTracer('@subscriptions/producer');
  const pending = new Map<string, PendingCall>();
  let model: ChannelModel | undefined;
  /** Where new publishes go. */
  let channel: ConfirmChannel | undefined;
  /** A new channel being opened to take over from one that nacked; resolves whether it did. */
  let replacement: Promise<boolean> | undefined;
  // Replaced channels stay open while calls published on them await their replies (direct
  // reply-to delivers a reply only to the channel that published), then close.
  const retiring = new Set<ConfirmChannel>();
  const retired = new WeakSet<ConfirmChannel>();
  // The socket's buffer is full (publish returned false) or the broker raised a resource alarm:
  // refuse new commands instead of piling them up in memory.
  let saturated = false;
  let blocked = false;
  let draining = false;
  let drained: (() => void) | undefined;
  let republished = 0;

  function settle(correlationId: string): PendingCall | undefined {
    const call = pending.get(correlationId);
    if (!call) return undefined;
    pending.delete(correlationId);
    clearTimeout(call.timer);
    clearTimeout(call.wait);
    clearTimeout(call.retry);
    if (call.channel) closeIfIdle(call.channel);
    if (draining && pending.size === 0) drained?.();
    return call;
  }

  function closeIfIdle(candidate: ConfirmChannel): void {
    if (!retiring.has(candidate)) return;
    for (const call of pending.values()) if (call.channel === candidate) return;
    retiring.delete(candidate);
    candidate.close().catch(() => undefined);
  }

  function onReply(message: ConsumeMessage | null): void {
    if (message === null) return;
    const correlationId = String(message.properties.correlationId ?? '');
    const call = settle(correlationId);
    if (!call) {
      // Its caller was answered already (504 or 202); the outcome is in the database.
      logger.debug({ correlation_id: correlationId }, 'late or unknown reply ignored');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.content.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const reply = replySchema.safeParse(parsed);
    if (reply.success) call.resolve(reply.data);
    else call.reject(new AppError('internal_error', 'the consumer sent a reply we cannot read'));
  }

  function onReturn(message: Message): void {
    const call = settle(String(message.properties.correlationId ?? ''));
    call?.reject(
      new AppError(
        'broker_unavailable',
        'no queue accepts this command; is the consumer deployed?',
      ),
    );
  }

  function onChannelClosed(closed: ConfirmChannel): void {
    if (channel === closed) channel = undefined;
    retiring.delete(closed);
    for (const [correlationId, call] of pending) {
      if (call.channel !== closed) continue;
      settle(correlationId);
      // Confirmed or not, the broker may hold the command: one still unconfirmed when the link
      // drops may have been queued all the same. Only a nack means "not accepted".
      call.reject(
        new AppError(
          'reply_lost',
          'the connection to the broker was lost before the reply; the outcome is unknown',
        ),
      );
    }
  }

  async function openChannel(owner: ChannelModel): Promise<ConfirmChannel> {
    const opened = await owner.createConfirmChannel();
    opened.on('error', (error: Error) => logger.warn({ err: error }, 'rpc channel error'));
    opened.on('return', onReturn);
    opened.on('drain', () => {
      saturated = false;
    });
    opened.on('close', () => onChannelClosed(opened));
    closeConnectionWhenChannelDies(owner, opened, () => retired.has(opened));
    // Direct reply-to must be consumed (no-ack) before the first publish on this channel.
    await opened.consume(DIRECT_REPLY_QUEUE, onReply, { noAck: true });
    return opened;
  }

  /** Opens a channel to take over from `stale`, once per channel, however many calls it nacked. */
  function replaceChannel(stale: ConfirmChannel): void {
    const owner = model;
    if (stale !== channel || replacement || !owner) return;
    replacement = openChannel(owner)
      .then((next) => {
        if (model !== owner || channel !== stale) {
          // The connection went meanwhile; its own recovery builds the next channel.
          retired.add(next);
          next.close().catch(() => undefined);
          return false;
        }
        channel = next;
        retired.add(stale);
        retiring.add(stale);
        closeIfIdle(stale);
        logger.warn('the broker nacked a command: publishing on a new channel');
        return true;
      })
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'cannot open a new rpc channel');
        return false;
      })
      .finally(() => {
        replacement = undefined;
      });
  }

  function onNack(call: PendingCall): void {
    call.inFlight = false;
    const nacked = call.channel;
    call.channel = undefined;
    if (nacked) {
      replaceChannel(nacked);
      closeIfIdle(nacked);
    }
    scheduleRepublish(call);
  }

  /** Publishes again after the backoff, unless the deadline comes first and answers the call. */
  function scheduleRepublish(call: PendingCall): void {
    const delay = Math.min(REPUBLISH_MAX_DELAY_MS, REPUBLISH_FIRST_DELAY_MS * 2 ** call.retries);
    if (Date.now() + delay >= call.deadline) return;
    call.retries += 1;
    call.retry = setTimeout(() => {
      call.retry = undefined;
      if (!send(call)) scheduleRepublish(call);
    }, delay);
  }

  /** Publishes `call` on the current channel, after a replacement under way; false if it threw. */
  function send(call: PendingCall): boolean {
    if (replacement) {
      void replacement.then((replaced) => {
        if (pending.get(call.correlationId) !== call) return;
        // Without a new channel only the one that nacked is left: wait the backoff again.
        if (!replaced || !send(call)) scheduleRepublish(call);
      });
      return true;
    }
    const target = channel;
    if (!target) {
      // Between connections: the next one's channel takes it, if it comes before the deadline.
      scheduleRepublish(call);
      return true;
    }
    try {
      call.channel = target;
      call.inFlight = true;
      if (!call.publishOn(target)) saturated = true;
      if (call.publishes > 0) republished += 1;
      call.publishes += 1;
      return true;
    } catch (error) {
      call.channel = undefined;
      call.inFlight = false;
      logger.warn({ err: error }, 'publish failed');
      return false;
    }
  }

  return {
    async attach(connected) {
      connected.on('blocked', (reason: string) => {
        blocked = true;
        logger.warn({ reason }, 'broker blocked publishing');
      });
      connected.on('unblocked', () => {
        blocked = false;
        logger.info('broker unblocked publishing');
      });
      const opened = await openChannel(connected);
      await opened.assertExchange(EXCHANGE, 'direct', { durable: true });
      saturated = false;
      blocked = false;
      model = connected;
      channel = opened;
    },

    call: (command, body, options) =>
      start(command, body, options, { kind: 'sync' }) as Promise<Reply>,

    submit: (command, body, options) =>
      start(command, body, options, { kind: 'async', waitMs: options.waitMs }),

    isConnected: () => channel !== undefined,
    pendingCount: () => pending.size,
    republishedCount: () => republished,

    drain() {
      draining = true;
      if (pending.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        drained = resolve;
      });
    },
  };

  /** Publishes one command and settles as `mode` says (see `call` and `submit`). */
  function start(
    command: CommandName,
    body: object,
    { commandId, requestId, idempotency, actingUserId }: CallOptions,
    mode: CallMode,
  ): Promise<Reply | 'accepted'> {
    if (draining) {
      return Promise.reject(new AppError('broker_unavailable', 'the service is shutting down'));
    }
    if (!channel) {
      return Promise.reject(
        new AppError('broker_unavailable', 'the message broker is unreachable'),
      );
    }
    if (blocked) {
      return Promise.reject(
        new AppError('broker_unavailable', 'the broker is refusing commands (resource alarm)'),
      );
    }
    if (saturated || pending.size >= maxPending) {
      return Promise.reject(
        new AppError('overloaded', 'too many commands are waiting for the broker; retry shortly'),
      );
    }
    const correlationId = randomUUID();
    const deadline = Date.now() + timeoutMs;
    // The wait for the outcome, from the first publish to the reply (or the 202, or the 504):
    // each publish is a span below it, and so is the consumer's side of the command.
    const span = tracer.startSpan(`command ${command}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'subscriptions.command.type': command,
        'subscriptions.command.id': commandId,
        'subscriptions.command.mode': mode.kind,
        'subscriptions.request.id': requestId,
        'messaging.message.conversation_id': correlationId,
      },
    });
    const traced = trace.setSpan(context.active(), span);
    const expires = mode.kind === 'sync';
    // A pure respond-async call waits for no reply, so it asks for none.
    const replyTo = mode.kind === 'async' && mode.waitMs === 0 ? undefined : DIRECT_REPLY_QUEUE;
    const content = Buffer.from(JSON.stringify(body));
    const headers = {
      [HEADER_REQUEST_ID]: requestId,
      // An asynchronous command has no deadline: it is applied whenever the consumer can.
      ...(expires && { [HEADER_DEADLINE]: deadline }),
      ...(actingUserId !== undefined && { [HEADER_ACTING_USER]: actingUserId }),
      ...(idempotency && {
        [HEADER_IDEMPOTENCY_KEY]: idempotency.key,
        [HEADER_IDEMPOTENCY_SCOPE]: idempotency.scope,
      }),
    };
    return new Promise<Reply | 'accepted'>((resolvePromise, rejectPromise) => {
      // However the call settles, its span ends with it.
      const resolve = (reply: Reply | 'accepted') => {
        endCommandSpan(
          span,
          reply === 'accepted' ? 'accepted' : reply.ok ? 'ok' : reply.error.code,
        );
        resolvePromise(reply);
      };
      const reject = (error: AppError) => {
        endCommandSpan(span, error.code, error);
        rejectPromise(error);
      };
      const call: PendingCall = {
        correlationId,
        channel: undefined,
        inFlight: false,
        confirmed: false,
        publishes: 0,
        retries: 0,
        deadline,
        retry: undefined,
        acceptOnConfirm: false,
        wait:
          mode.kind === 'async'
            ? setTimeout(() => {
                call.wait = undefined;
                if (pending.get(correlationId) !== call) return;
                if (call.confirmed) {
                  settle(correlationId);
                  resolve('accepted');
                } else {
                  call.acceptOnConfirm = true;
                }
              }, mode.waitMs)
            : undefined,
        timer: setTimeout(() => {
          if (!settle(correlationId)) return;
          // Never confirmed and nothing in flight: every publish was nacked, none accepted.
          if (!call.confirmed && !call.inFlight) {
            reject(new AppError('command_not_confirmed', 'the broker did not accept the command'));
            return;
          }
          reject(
            new AppError(
              'reply_timeout',
              `no reply within ${timeoutMs} ms; the command may still be applied`,
            ),
          );
        }, timeoutMs),
        publishOn: (target) =>
          context.with(traced, () =>
            target.publish(
              EXCHANGE,
              routingKeyFor(COMMANDS[command].queue),
              content,
              {
                persistent: true,
                mandatory: true,
                contentType: 'application/json',
                // The same message id on every publish: the consumer applies a command once.
                messageId: commandId,
                correlationId,
                replyTo,
                // A re-publish expires at the same deadline as the first.
                ...(expires && { expiration: String(Math.max(1, deadline - Date.now())) }),
                timestamp: Math.floor(Date.now() / 1000),
                headers,
              },
              (error: Error | null) => {
                if (pending.get(correlationId) !== call || call.channel !== target) return;
                if (!error) {
                  call.inFlight = false;
                  call.confirmed = true;
                  if (call.acceptOnConfirm) {
                    settle(correlationId);
                    resolve('accepted');
                  }
                  return;
                }
                // amqplib also fails every unconfirmed publish with "channel closed" when the
                // channel goes; onChannelClosed answers those. Only a nack is the broker's no.
                if (error.message === 'message nacked') onNack(call);
              },
            ),
          ),
        resolve,
        reject,
      };
      pending.set(correlationId, call);
      if (!send(call)) {
        settle(correlationId);
        reject(new AppError('broker_unavailable', 'the message broker is unreachable'));
      }
    });
  }
}
