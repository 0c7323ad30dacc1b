import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that stands between a process under test and a service (RabbitMQ,
 * MySQL), so a test can cut or freeze the link without touching the shared service itself.
 */
export interface TcpProxy {
  readonly host: string;
  /** The port the proxy listens on: point the process at `host:port` instead of the service. */
  readonly port: number;
  /** Connections open through the proxy right now. */
  readonly openConnections: number;
  /** Connections forwarded since the proxy started (refused ones not counted). */
  readonly acceptedConnections: number;
  /** Connections refused while severed. */
  readonly refusedConnections: number;
  /**
   * Resets every open connection and refuses new ones (accepted, then reset at once) until
   * `restore()`: to the process, the service went away.
   */
  sever(): void;
  /** Accepts and forwards connections again after `sever()` or `pause()`. */
  restore(): void;
  /**
   * Keeps every socket open but forwards no byte either way, new connections included, as a
   * frozen peer would. Bytes sent meanwhile are held and delivered on `resume()`.
   */
  pause(): void;
  /** Delivers the bytes held since `pause()` and forwards again. */
  resume(): void;
  /** Closes every connection and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  let severed = false;
  let paused = false;
  let accepted = 0;
  let refused = 0;

  /** Copies bytes one way, honouring backpressure and the proxy's pause. */
  function forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!paused) from.resume();
    });
  }

  /** Lets bytes flow again in each direction whose receiving side is not full. */
  function flow({ client, upstream }: Link): void {
    if (!upstream.writableNeedDrain) client.resume();
    if (!client.writableNeedDrain) upstream.resume();
  }

  function link(client: Socket): void {
    if (severed) {
      refused += 1;
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    accepted += 1;
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Link = { client, upstream };
    links.add(pair);
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      // A clean close is passed on once the bytes in hand are delivered; a reset at once.
      socket.on('end', () => other.end());
      socket.on('close', (hadError) => {
        links.delete(pair);
        if (hadError) other.destroy();
        else other.end();
      });
    }
    if (paused) {
      client.pause();
      upstream.pause();
    }
    forward(client, upstream);
    forward(upstream, client);
  }

  const server: Server = createServer(link);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
  let closed: Promise<void> | undefined;

  function resume(): void {
    paused = false;
    for (const pair of links) flow(pair);
  }

  return {
    host: '127.0.0.1',
    port: address.port,
    get openConnections() {
      return links.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    get refusedConnections() {
      return refused;
    },
    sever() {
      severed = true;
      for (const { client, upstream } of links) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      links.clear();
    },
    restore() {
      severed = false;
      resume();
    },
    pause() {
      paused = true;
      for (const { client, upstream } of links) {
        client.pause();
        upstream.pause();
      }
    },
    resume,
    close() {
      closed ??= new Promise<void>((resolve) => {
        severed = true;
        for (const { client, upstream } of links) {
          client.destroy();
          upstream.destroy();
        }
        links.clear();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
