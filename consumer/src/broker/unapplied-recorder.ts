import { QUEUES, UNAPPLIED_QUEUE, type QueueName, type ReplyError } from '@subscriptions/contracts';
import type { TransactionOutcome, UnappliedCommand } from '@subscriptions/store';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { deadlineOf, identityOf, parseCommand } from './parse-command';
import { isPastDeadline, retryDelayMs } from './retry-policy';

export interface UnappliedRecorder {
  /** Stops taking dead letters and resolves once those in hand are recorded or handed back. */
  stop(): Promise<void>;
}

/**
 * A command id as the producer mints them, printable ASCII; a dead letter without one goes
 * unrecorded.
 */
const COMMAND_ID = /^[\x21-\x7e]{1,255}$/;

/**
 * What a command that ended on the dead-letter exchange answers when it is looked up: it was not
 * applied, and this says why. Poison keeps the reason it could not be read.
 */
function unappliedError(message: ConsumeMessage, now: number): ReplyError {
  const headers = message.properties.headers ?? {};
  const queue: unknown = headers['x-first-death-queue'];
  if (typeof queue === 'string' && (QUEUES as readonly string[]).includes(queue)) {
    const command = parseCommand(queue as QueueName, message.content, headers);
    if (typeof command === 'string') {
      return { code: 'invalid_command', message: command };
    }
  }
  const deadline = deadlineOf(headers);
  const diedAt = deathTime(headers) ?? now;
  if (
    headers['x-first-death-reason'] === 'expired' ||
    (deadline !== undefined && isPastDeadline(deadline, diedAt))
  ) {
    return {
      code: 'command_expired',
      message: 'the command reached no consumer before its deadline and was not applied',
    };
  }
  return { code: 'internal_error', message: 'internal error' };
}

/**
 * When the broker dead-lettered the message (epoch ms, to the second), from its newest `x-death`
 * entry; the consumer rejects a command past its deadline then, and one that failed before it.
 */
function deathTime(headers: Record<string, unknown>): number | undefined {
  const deaths: unknown = headers['x-death'];
  if (!Array.isArray(deaths)) return undefined;
  // amqplib reads an AMQP timestamp in a table as `{ '!': 'timestamp', value: <seconds> }`.
  const time: unknown = (deaths[0] as { time?: { value?: unknown } } | undefined)?.time?.value;
  // The deadline is in milliseconds: a death in the same second counts as after it.
  return typeof time === 'number' ? (time + 1) * 1000 - 1 : undefined;
}

/**
 * Reads the second queue of the dead-letter exchange and records, for each command that ended
 * there (poison, expired, failed alone, past the delivery limit), that it ended unapplied. So
 * every accepted command is eventually `completed`, never `pending` for good. An outcome
 * already recorded (the command was applied after all) is kept. The operators' dead-letter
 * queue keeps its own copy. Runs on a channel of its own: the command listener's `multiple`
 * acks must not settle these deliveries.
 */
export async function startUnappliedRecorder(deps: {
  channel: Channel;
  /** Records the command; a failure says whether trying again can succeed. */
  record: (command: UnappliedCommand) => Promise<TransactionOutcome<void>>;
  logger: Logger;
  now?: () => number;
}): Promise<UnappliedRecorder> {
  const { channel, record, logger, now = Date.now } = deps;
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  function settle(action: () => void): void {
    try {
      action();
    } catch (error) {
      // The channel died under us; the broker redelivers what we could not ack.
      logger.warn({ err: error }, 'could not settle dead letter: channel closed');
    }
  }

  async function handle(message: ConsumeMessage): Promise<void> {
    const commandId: unknown = message.properties.messageId;
    if (typeof commandId !== 'string' || !COMMAND_ID.test(commandId)) {
      settle(() => channel.ack(message));
      return;
    }
    const unapplied: UnappliedCommand = {
      commandId,
      error: unappliedError(message, now()),
      requestId: identityOf(message).requestId,
    };
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await record(unapplied);
      if (outcome.kind === 'committed') {
        settle(() => channel.ack(message));
        return;
      }
      if (outcome.kind !== 'transient') {
        logger.error(
          { err: outcome.error, command_id: commandId },
          'outcome of a dead letter not kept',
        );
        settle(() => channel.ack(message));
        return;
      }
      if (stopping) {
        settle(() => channel.nack(message, false, true));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
  }

  const { consumerTag } = await channel.consume(UNAPPLIED_QUEUE, (message) => {
    if (message === null) return; // cancelled by the broker: recovery builds a new channel
    const work = handle(message).finally(() => inFlight.delete(work));
    inFlight.add(work);
  });

  return {
    async stop() {
      stopping = true;
      await channel.cancel(consumerTag).catch(() => undefined);
      await Promise.allSettled([...inFlight]);
    },
  };
}
