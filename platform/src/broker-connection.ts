import amqp from 'amqplib';
import type { ChannelModel, RecoveringChannelModel } from 'amqplib';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** Seconds between heartbeats unless the URL says otherwise: a frozen broker is seen in ~2x this. */
const DEFAULT_HEARTBEAT_SECONDS = 5;

/** amqplib reads the heartbeat only from the URL, so add one if the operator did not. */
export function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) {
    parsed.searchParams.set('heartbeat', String(DEFAULT_HEARTBEAT_SECONDS));
  }
  return parsed.toString();
}

/**
 * amqplib writes every frame to the socket on its own, one system call each: a reply, an ack
 * and a publish cost three. Corking the socket for the rest of the current tick sends all the
 * frames of a tick in one call, without Nagle's delay.
 */
export function coalesceWrites(model: ChannelModel): void {
  const socket = (model.connection as unknown as { stream?: Socket }).stream;
  if (!socket || typeof socket.cork !== 'function') return;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = (...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  };
}

/**
 * Connects with amqplib's built-in recovery: `setup` runs after every (re)connect and builds
 * the channels afresh. Resolves at once; the first connection may come later.
 */
export async function connectBroker(options: {
  url: string;
  logger: Logger;
  setup: (model: ChannelModel) => Promise<void>;
}): Promise<RecoveringChannelModel> {
  const { url, logger, setup } = options;
  const connection = await amqp.connect(withHeartbeat(url), {
    // Without noDelay, Nagle's algorithm holds small frames (acks, replies) for ~40 ms.
    noDelay: true,
    recovery: {
      initialDelay: 200,
      maxDelay: 5_000,
      waitForConnect: false,
      setup: async (model: ChannelModel) => {
        coalesceWrites(model);
        await setup(model);
      },
    },
  });
  connection.on('connect', () => logger.info('broker connected'));
  connection.on('disconnect', (error: Error) =>
    logger.warn({ err: error }, 'broker connection lost'),
  );
  connection.on('reconnect-scheduled', ({ attempt, delay, error }) =>
    logger.warn({ attempt, delay, reason: error.message }, 'broker reconnect scheduled'),
  );
  connection.on('error', (error: Error) => logger.warn({ err: error }, 'broker error'));
  connection.on('handler-error', (error: Error, event: string) =>
    logger.error({ err: error, event }, 'broker event handler failed'),
  );
  return connection;
}
