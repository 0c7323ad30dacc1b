import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChannelModel } from 'amqplib';
import pino from 'pino';
import { amqpBaseUrl, createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startTcpProxy, type TcpProxy } from '../../../test-support/faults/tcp-proxy';
import { closedPort } from '../../../test-support/ports';
import { managementApiFor } from '../../../test-support/rabbitmq-management';
import { type BrokerConnection, connectBroker } from '../../src';

interface LogLine {
  msg: string;
  broker?: string;
  failed?: string;
  next?: string;
}

/** A logger whose lines the test can read back, and wait for. */
function recordingLogger() {
  const lines: LogLine[] = [];
  const waiting: { msg: string; count: number; resolve: () => void }[] = [];
  const settle = () => {
    for (const waiter of waiting.splice(0)) {
      const seen = lines.filter((line) => line.msg === waiter.msg).length;
      if (seen >= waiter.count) waiter.resolve();
      else waiting.push(waiter);
    }
  };
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as LogLine);
        settle();
      },
    },
  );
  /** Resolves once `count` lines have said `msg`. */
  const logged = (msg: string, count: number) =>
    new Promise<void>((resolve) => {
      waiting.push({ msg, count, resolve });
      settle();
    });
  return { logger, lines, logged };
}

/** The vhost's URL with the port changed: the same login, at an address nothing answers. */
function atPort(url: string, port: number): string {
  const moved = new URL(url);
  moved.port = String(port);
  return moved.toString();
}

/** The model of the next connect (not `events.once`: it would reject on the 'error' of a loss). */
function nextModel(connection: BrokerConnection, timeoutMs = 15_000): Promise<ChannelModel> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect within the time')), timeoutMs);
    connection.once('connect', (model: ChannelModel) => {
      clearTimeout(timer);
      resolve(model);
    });
  });
}

describe('connectBroker against a real broker', () => {
  let vhost: TestVhost;
  let proxy: TcpProxy | undefined;
  const connections: BrokerConnection[] = [];
  const management = managementApiFor(amqpBaseUrl);

  beforeAll(async () => {
    vhost = await createTestVhost();
  });

  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
    await proxy?.close();
    proxy = undefined;
  });

  afterAll(async () => {
    await vhost?.delete();
  });

  async function connect(url: string, logger = recordingLogger().logger) {
    const setups: ChannelModel[] = [];
    const connection = await connectBroker({
      url,
      logger,
      setup: async (model) => {
        setups.push(model);
        // A channel proves the login and the vhost came from the entry.
        const channel = await model.createChannel();
        await channel.close();
      },
    });
    connections.push(connection);
    return { connection, setups };
  }

  it('skips the brokers that do not answer and connects to the first that does', async () => {
    const [first, second] = [await closedPort(), await closedPort()];
    const { logger, lines } = recordingLogger();
    const { connection, setups } = await connect(
      [atPort(vhost.url, first), atPort(vhost.url, second), vhost.url].join(', '),
      logger,
    );
    const live = new URL(vhost.url);

    await connection.waitForConnect();

    expect(setups).toHaveLength(1);
    expect(connection.isConnected()).toBe(true);
    expect(connection.broker()).toBe(`${live.hostname}:${live.port}`);
    const scheduled = lines.filter((line) => line.msg === 'broker reconnect scheduled');
    expect(scheduled.map(({ failed, next }) => [failed, next])).toEqual([
      [`${live.hostname}:${first}`, `${live.hostname}:${second}`],
      [`${live.hostname}:${second}`, `${live.hostname}:${live.port}`],
    ]);
    expect(lines.find((line) => line.msg === 'broker connected')?.broker).toBe(
      `${live.hostname}:${live.port}`,
    );
  });

  it('never connects when no broker on the list answers, not even to the default port', async () => {
    const ports = [await closedPort(), await closedPort()];
    const { logger, lines, logged } = recordingLogger();
    const { connection, setups } = await connect(
      ports.map((port) => atPort(vhost.url, port)).join(','),
      logger,
    );
    let connects = 0;
    connection.on('connect', () => {
      connects += 1;
    });

    // Three failed attempts: both brokers tried, and the first again.
    await logged('broker reconnect scheduled', 3);

    expect(connects).toBe(0);
    expect(setups).toHaveLength(0);
    expect(connection.isConnected()).toBe(false);
    const tried = lines.flatMap((line) => [line.failed, line.next]).filter(Boolean);
    expect(tried.length).toBeGreaterThanOrEqual(4);
    expect(new Set(tried)).toEqual(new Set(ports.map((port) => `127.0.0.1:${port}`)));
  });

  it('reconnects after the broker closes the connection', async () => {
    const { connection, setups } = await connect(vhost.url);
    const first = await nextModel(connection);
    const localPort = (first.connection as unknown as { stream: { localPort: number } }).stream
      .localPort;
    const name = await connectionNameOf(localPort);

    const reconnected = nextModel(connection);
    const closed = await management.request('DELETE', `/connections/${encodeURIComponent(name)}`);
    expect(closed.status).toBe(204);
    const second = await reconnected;

    expect(second).not.toBe(first);
    expect(setups).toEqual([first, second]);
    expect(connection.isConnected()).toBe(true);
  });

  it('goes on to the next broker on the list when the connection is lost', async () => {
    const live = new URL(vhost.url);
    proxy = await startTcpProxy({ host: live.hostname, port: Number(live.port) });
    const { connection } = await connect(`${atPort(vhost.url, proxy.port)},${vhost.url}`);
    await nextModel(connection);
    expect(connection.broker()).toBe(`127.0.0.1:${proxy.port}`);

    const reconnected = nextModel(connection);
    proxy.sever();
    await reconnected;

    expect(connection.broker()).toBe(`${live.hostname}:${live.port}`);
    expect(proxy.refusedConnections).toBe(0);
  });

  /** The management API's name of the connection from `localPort`; it shows up within seconds. */
  async function connectionNameOf(localPort: number): Promise<string> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const response = await management.request(
        'GET',
        `/vhosts/${encodeURIComponent(vhost.name)}/connections`,
      );
      const listed = (await response.json()) as { name: string; peer_port: number }[];
      const match = listed.find((entry) => entry.peer_port === localPort);
      if (match) return match.name;
      await sleep(200);
    }
    throw new Error(`the management API never listed the connection from port ${localPort}`);
  }
});
