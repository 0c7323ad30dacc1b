import { closeConnectionWhenChannelDies } from '@subscriptions/platform';
import type { TransactionOutcome, UnappliedCommand } from '@subscriptions/store';
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { ListenerMetrics } from '../metrics';
import type { ExecuteBatch } from '../subscriptions/apply-command';
import type { BatchOptions } from './batch-queue';
import { type CommandListener, startCommandListener } from './command-listener';
import { assertTopology } from './topology';
import { startUnappliedRecorder, type UnappliedRecorder } from './unapplied-recorder';

export interface CommandConsumer {
  /** Recovery setup: declares the topology and starts listening on a new connection. */
  attach(model: ChannelModel): Promise<void>;
  /** True while a channel consumes the command queues. */
  isConsuming(): boolean;
  /** Stops taking commands and resolves once those in hand are answered or handed back. */
  stop(): Promise<void>;
}

/** Dead letters whose outcome is being recorded at once. */
const RECORDER_PREFETCH = 16;

/**
 * The consumer's side of the broker, rebuilt on every (re)connect: one channel with the command
 * listener on it, `prefetch` commands in hand at most from each queue (RabbitMQ applies a
 * non-global prefetch to each subscription), and one for the unapplied recorder.
 */
export function createCommandConsumer(deps: {
  prefetch: number;
  execute: ExecuteBatch;
  /** Records a command that ended on the dead-letter exchange, unapplied. */
  recordUnapplied: (command: UnappliedCommand) => Promise<TransactionOutcome<void>>;
  logger: Logger;
  metrics?: ListenerMetrics;
  batching?: Partial<BatchOptions>;
}): CommandConsumer {
  const { prefetch, execute, recordUnapplied, logger, metrics, batching } = deps;
  let current: Channel | undefined;
  /** The listener and recorder of every connection so far, until each has stopped. */
  const running = new Set<CommandListener | UnappliedRecorder>();
  let stopping = false;

  /** Stops `part` and lets it go once the commands it had in hand are settled. */
  function stopPart(part: CommandListener | UnappliedRecorder): Promise<void> {
    return part.stop().finally(() => running.delete(part));
  }

  /** Keeps `part` for the shutdown; once `channel` is closed it takes nothing more, so it stops. */
  function keep(part: CommandListener | UnappliedRecorder, channel: Channel): void {
    running.add(part);
    channel.once('close', () => void stopPart(part));
  }

  async function openChannel(model: ChannelModel, count: number): Promise<Channel> {
    const channel = await model.createChannel();
    channel.on('error', (error: Error) => logger.warn({ err: error }, 'channel error'));
    channel.on('close', () => {
      if (current === channel) current = undefined;
    });
    closeConnectionWhenChannelDies(model, channel, () => stopping);
    await channel.prefetch(count);
    return channel;
  }

  return {
    async attach(model) {
      // A reconnect during shutdown must not start consuming again while the pool closes.
      if (stopping) throw new Error('the consumer is stopping');
      const channel = await openChannel(model, prefetch);
      await assertTopology(channel);
      const recorderChannel = await openChannel(model, RECORDER_PREFETCH);
      const recorder = await startUnappliedRecorder({
        channel: recorderChannel,
        record: recordUnapplied,
        logger,
      });
      keep(recorder, recorderChannel);
      const listener = await startCommandListener({ channel, execute, logger, metrics, batching });
      keep(listener, channel);
      current = channel;
      logger.info({ concurrency: prefetch }, 'consuming commands');
    },

    isConsuming: () => current !== undefined,

    async stop() {
      stopping = true;
      // A connection lost before this one may have left commands in hand: wait for those too.
      await Promise.all([...running].map(stopPart));
    },
  };
}
