import amqp from 'amqplib';
import type { ChannelModel, Options, RecoveringChannelModel } from 'amqplib';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type BrokerEndpoint, parseBrokerUrls } from './broker-urls';

/** Which broker of the list is in use, as an object URL that amqplib reads afresh on each attempt. */
export interface BrokerRotation {
  readonly url: Options.Connect;
  current(): BrokerEndpoint;
  /** Moves on to the next broker, after the last back to the first; returns it. */
  advance(): BrokerEndpoint;
}

/**
 * amqplib's recovery reconnects with the same URL argument every time, but reads the fields of an
 * object URL on each attempt: getters over the current entry turn it into a rotation. Every field
 * comes from the entry, so it can never fall back to amqplib's default of localhost:5672.
 */
export function createBrokerRotation(endpoints: readonly BrokerEndpoint[]): BrokerRotation {
  if (endpoints.length === 0) throw new Error('no broker to connect to');
  let index = 0;
  const current = (): BrokerEndpoint => endpoints[index] as BrokerEndpoint;
  const url: Options.Connect = {
    get protocol() {
      return current().protocol;
    },
    get hostname() {
      return current().hostname;
    },
    get port() {
      return current().port;
    },
    get username() {
      return current().username;
    },
    get password() {
      return current().password;
    },
    get vhost() {
      return current().vhost;
    },
    get heartbeat() {
      return current().heartbeat;
    },
    get frameMax() {
      return current().frameMax;
    },
    get channelMax() {
      return current().channelMax;
    },
    get maxFrameSize() {
      return current().maxFrameSize;
    },
    get locale() {
      return current().locale;
    },
  };
  return {
    url,
    current,
    advance() {
      index = (index + 1) % endpoints.length;
      return current();
    },
  };
}

/** What the rotation needs to hear from a recovering connection. */
export type RecoveryEvents = Pick<EventEmitter, 'on'>;

/**
 * Goes on to the next broker after a failed attempt and after a lost connection. The events come
 * before recovery schedules its next attempt, so that attempt already reads the next entry.
 * Returns the broker each move left, for the log line of the attempt that follows.
 */
export function rotateOnFailure(
  connection: RecoveryEvents,
  rotation: BrokerRotation,
): { lastLeft(): BrokerEndpoint | undefined } {
  let left: BrokerEndpoint | undefined;
  const move = () => {
    left = rotation.current();
    rotation.advance();
  };
  connection.on('connect-failed', move);
  connection.on('disconnect', move);
  return { lastLeft: () => left };
}

/**
 * amqplib writes every frame to the socket on its own, one system call each: a reply, an ack
 * and a publish cost three. Corking the socket until the event loop's turn ends sends all the
 * frames of that turn in one call, without Nagle's delay: the commands of every HTTP request
 * read in one turn, the replies and acks of a batch. Fewer, fuller packets also wake the broker
 * fewer times.
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
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  };
}

/**
 * A channel can die alone (a protocol error closes it, a 406 on a redeclare, say) while its
 * connection lives on, and amqplib's recovery only acts on a lost connection. So when `channel`
 * closes and its owner did not close it on purpose (shutdown, a channel retired), this closes
 * its connection: recovery then reconnects and runs the setup again, rebuilding every channel.
 */
export function closeConnectionWhenChannelDies(
  model: Pick<ChannelModel, 'close'>,
  channel: Pick<EventEmitter, 'on'>,
  closedOnPurpose: () => boolean,
): void {
  channel.on('close', () => {
    // When the connection itself went, closing it again fails, and nothing is lost.
    if (!closedOnPurpose()) model.close().catch(() => undefined);
  });
}

/** A recovering connection that also says where it is. */
export type BrokerConnection = RecoveringChannelModel & {
  /** `host:port` of the broker connected to, or of the one tried next. */
  broker(): string;
  /** True from a connect until that connection closes. */
  isConnected(): boolean;
};

/**
 * Connects with amqplib's built-in recovery: `setup` runs after every (re)connect and builds
 * the channels afresh. `url` is one broker URL or several of one cluster (an array, or the
 * comma-separated form of `AMQP_URL`): the first that answers is used, and after a failed
 * attempt or a lost connection the next one, never an address off the list. Resolves at once;
 * the first connection may come later.
 */
export async function connectBroker(options: {
  url: string | readonly string[];
  logger: Logger;
  setup: (model: ChannelModel) => Promise<void>;
}): Promise<BrokerConnection> {
  const { logger, setup } = options;
  const rotation = createBrokerRotation(parseBrokerUrls(options.url));
  const connection = await amqp.connect(rotation.url, {
    // Without noDelay, Nagle's algorithm holds small frames (acks, replies) for ~40 ms.
    noDelay: true,
    recovery: {
      initialDelay: 200,
      maxDelay: 5_000,
      waitForConnect: false,
      setup: async (model: ChannelModel) => {
        // amqplib listens for the new connection's errors only once setup is done; a node that
        // accepts and then drops the connection (541 while it rejoins its cluster) would
        // otherwise raise an unhandled 'error' and end the process. Setup then fails and
        // recovery goes on to the next broker.
        const onSetupError = (error: Error) =>
          logger.warn({ err: error }, 'broker connection failed during setup');
        model.on('error', onSetupError);
        try {
          coalesceWrites(model);
          await setup(model);
        } finally {
          model.removeListener('error', onSetupError);
        }
      },
    },
  });
  let connected = false;
  const moves = rotateOnFailure(connection, rotation);
  connection.on('connect', (model: ChannelModel) => {
    connected = true;
    model.once('close', () => {
      connected = false;
    });
    logger.info({ broker: rotation.current().address }, 'broker connected');
  });
  connection.on('disconnect', (error: Error) =>
    logger.warn({ err: error, broker: moves.lastLeft()?.address }, 'broker connection lost'),
  );
  connection.on('reconnect-scheduled', ({ attempt, delay, error }) =>
    logger.warn(
      {
        attempt,
        delay,
        reason: error.message,
        failed: moves.lastLeft()?.address,
        next: rotation.current().address,
      },
      'broker reconnect scheduled',
    ),
  );
  connection.on('error', (error: Error) => logger.warn({ err: error }, 'broker error'));
  connection.on('handler-error', (error: Error, event: string) =>
    logger.error({ err: error, event }, 'broker event handler failed'),
  );
  return Object.assign(connection, {
    broker: () => rotation.current().address,
    isConnected: () => connected,
  });
}
