import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTcpProxy, type TcpProxy } from '../../test-support/faults/tcp-proxy';

/** A server that writes back every byte it receives, and keeps what it received. */
async function startEchoServer(): Promise<{ server: Server; port: number; received(): string }> {
  let received = '';
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
    });
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port was bound');
  return { server, port: address.port, received: () => received };
}

/** A client of the proxy that collects what comes back and how its connection ended. */
async function openClient(proxy: TcpProxy) {
  const socket = connect({ host: proxy.host, port: proxy.port });
  let received = '';
  let error: NodeJS.ErrnoException | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('error', (cause: NodeJS.ErrnoException) => {
    error = cause;
  });
  // Not `once(socket, 'close')`: that rejects on the 'error' a reset brings.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  return {
    socket,
    received: () => received,
    error: () => error,
    closed,
  };
}

/** Polls `condition` until it holds, failing after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function closeSocket(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.destroy();
  return closed;
}

describe('the TCP proxy used to cut links in fault tests', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let proxy: TcpProxy;

  beforeAll(async () => {
    echo = await startEchoServer();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
  });

  afterAll(async () => {
    await proxy?.close();
    echo?.server.close();
    if (echo) await once(echo.server, 'close');
  });

  it('forwards bytes both ways and counts the connections it carries', async () => {
    const before = proxy.acceptedConnections;
    const client = await openClient(proxy);
    client.socket.write('hello');

    await until(() => client.received() === 'hello');
    expect(proxy.openConnections).toBe(1);
    expect(proxy.acceptedConnections).toBe(before + 1);

    await closeSocket(client.socket);
    await until(() => proxy.openConnections === 0);
  });

  it('sever resets open connections and refuses new ones until restore', async () => {
    const client = await openClient(proxy);
    client.socket.write('ping');
    await until(() => client.received() === 'ping');

    proxy.sever();
    await client.closed;
    expect(client.error()?.code).toBe('ECONNRESET');
    expect(proxy.openConnections).toBe(0);

    const refusedBefore = proxy.refusedConnections;
    const refused = connect({ host: proxy.host, port: proxy.port });
    const [failure] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(failure.code).toBe('ECONNRESET');
    expect(proxy.refusedConnections).toBe(refusedBefore + 1);

    proxy.restore();
    const revived = await openClient(proxy);
    revived.socket.write('back');
    await until(() => revived.received() === 'back');
    await closeSocket(revived.socket);
  });

  it('pause keeps the connection open but holds every byte until resume', async () => {
    const client = await openClient(proxy);
    proxy.pause();
    client.socket.write('held');
    // A new connection made while paused is held too.
    const late = await openClient(proxy);
    late.socket.write('late');

    // A probe through another proxy to the same server makes the trip the held bytes would have
    // made, and back: once its echo is in, they would have arrived, had they not been held.
    const other = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
    const probe = await openClient(other);
    probe.socket.write('probe');
    await until(() => probe.received() === 'probe');
    await other.close();
    expect(echo.received()).not.toMatch(/held|late/);
    expect(client.received()).toBe('');
    expect(late.received()).toBe('');
    expect(proxy.openConnections).toBe(2);
    expect(client.socket.destroyed).toBe(false);

    proxy.resume();
    await until(() => client.received() === 'held' && late.received() === 'late');
    await Promise.all([closeSocket(client.socket), closeSocket(late.socket)]);
  });

  it('close ends every connection and stops listening', async () => {
    const other = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
    const client = await openClient(other);

    await other.close();
    await client.closed;
    const refused = connect({ host: other.host, port: other.port });
    const [failure] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(failure.code).toBe('ECONNREFUSED');
  });
});
