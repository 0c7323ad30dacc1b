import { randomUUID } from 'node:crypto';
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
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import type { Logger } from 'pino';
import { AppError } from '../errors';

export interface RpcClient {
  /** Recovery setup: builds the confirm channel and the reply consumer on a fresh connection. */
  attach(model: ChannelModel): Promise<void>;
  /** Publishes a command and resolves with the consumer's reply, or rejects with an AppError. */
  call(command: CommandName, body: object, options: CallOptions): Promise<Reply>;
  /** True while a channel is open to publish on. */
  isConnected(): boolean;
  /** Calls awaiting their reply. */
  pendingCount(): number;
  /** Refuses new calls and resolves once every pending call has settled. */
  drain(): Promise<void>;
}

export interface CallOptions {
  requestId: string;
  /** The client's Idempotency-Key and the caller it is scoped to. */
  idempotency?: { scope: string; key: string } | undefined;
  /** Restricts the command to this user's subscriptions (a caller who is not admin). */
  actingUserId?: number | undefined;
}

interface PendingCall {
  channel: ConfirmChannel;
  timer: NodeJS.Timeout;
  resolve(reply: Reply): void;
  reject(error: AppError): void;
}

/**
 * Request/reply over RabbitMQ. Each call publishes a persistent, mandatory command on one
 * long-lived confirm channel and waits for the reply on the direct reply-to pseudo-queue.
 * Every pending entry leaves the map exactly once: on its reply, its deadline, an unroutable
 * return, a negative confirm, or the loss of its channel.
 */
export function createRpcClient(deps: {
  timeoutMs: number;
  logger: Logger;
  /** Calls allowed to wait at once; past it a call is refused (503) rather than queued. */
  maxPending?: number;
}): RpcClient {
  const { timeoutMs, logger, maxPending = 10_000 } = deps;
  const pending = new Map<string, PendingCall>();
  let channel: ConfirmChannel | undefined;
  // The socket's buffer is full (publish returned false) or the broker raised a resource alarm:
  // refuse new commands instead of piling them up in memory.
  let saturated = false;
  let blocked = false;
  let draining = false;
  let drained: (() => void) | undefined;

  function settle(correlationId: string): PendingCall | undefined {
    const call = pending.get(correlationId);
    if (!call) return undefined;
    pending.delete(correlationId);
    clearTimeout(call.timer);
    if (draining && pending.size === 0) drained?.();
    return call;
  }

  function onReply(message: ConsumeMessage | null): void {
    if (message === null) return;
    const correlationId = String(message.properties.correlationId ?? '');
    const call = settle(correlationId);
    if (!call) {
      // Its caller already got a 504; the change (if any) is in the database.
      logger.warn({ correlation_id: correlationId }, 'late or unknown reply ignored');
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

  return {
    async attach(model) {
      const fresh = await model.createConfirmChannel();
      fresh.on('error', (error: Error) => logger.warn({ err: error }, 'rpc channel error'));
      fresh.on('return', onReturn);
      fresh.on('drain', () => {
        saturated = false;
      });
      model.on('blocked', (reason: string) => {
        blocked = true;
        logger.warn({ reason }, 'broker blocked publishing');
      });
      model.on('unblocked', () => {
        blocked = false;
        logger.info('broker unblocked publishing');
      });
      fresh.on('close', () => {
        onChannelClosed(fresh);
        // A channel can die alone; closing its connection lets recovery rebuild both.
        model.close().catch(() => undefined);
      });
      await fresh.assertExchange(EXCHANGE, 'direct', { durable: true });
      // Direct reply-to must be consumed (no-ack) before the first publish on this channel.
      await fresh.consume(DIRECT_REPLY_QUEUE, onReply, { noAck: true });
      saturated = false;
      blocked = false;
      channel = fresh;
    },

    call(command, body, { requestId, idempotency, actingUserId }) {
      const current = channel;
      if (draining) {
        return Promise.reject(new AppError('broker_unavailable', 'the service is shutting down'));
      }
      if (!current) {
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
      return new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (!settle(correlationId)) return;
          reject(
            new AppError(
              'reply_timeout',
              `no reply within ${timeoutMs} ms; the command may still be applied`,
            ),
          );
        }, timeoutMs);
        const call: PendingCall = { channel: current, timer, resolve, reject };
        pending.set(correlationId, call);
        try {
          const accepted = current.publish(
            EXCHANGE,
            routingKeyFor(COMMANDS[command].queue),
            Buffer.from(JSON.stringify(body)),
            {
              persistent: true,
              mandatory: true,
              contentType: 'application/json',
              messageId: randomUUID(),
              correlationId,
              replyTo: DIRECT_REPLY_QUEUE,
              expiration: String(timeoutMs),
              timestamp: Math.floor(Date.now() / 1000),
              headers: {
                [HEADER_REQUEST_ID]: requestId,
                [HEADER_DEADLINE]: Date.now() + timeoutMs,
                ...(actingUserId !== undefined && { [HEADER_ACTING_USER]: actingUserId }),
                ...(idempotency && {
                  [HEADER_IDEMPOTENCY_KEY]: idempotency.key,
                  [HEADER_IDEMPOTENCY_SCOPE]: idempotency.scope,
                }),
              },
            },
            (error: Error | null) => {
              // amqplib also fails every unconfirmed publish with "channel closed" when the
              // channel goes; onChannelClosed answers those. Only a nack is the broker's no.
              if (!error || error.message !== 'message nacked') return;
              if (!settle(correlationId)) return;
              reject(
                new AppError('command_not_confirmed', 'the broker did not accept the command'),
              );
            },
          );
          if (!accepted) saturated = true;
        } catch (error) {
          settle(correlationId);
          logger.warn({ err: error }, 'publish failed');
          reject(new AppError('broker_unavailable', 'the message broker is unreachable'));
        }
      });
    },

    isConnected: () => channel !== undefined,
    pendingCount: () => pending.size,

    drain() {
      draining = true;
      if (pending.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        drained = resolve;
      });
    },
  };
}
