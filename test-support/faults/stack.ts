import { amqpBaseUrl, createTestVhost, type TestVhost } from '../broker';
import { releaseAll } from '../cleanup';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../database';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../processes/services';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

/** The broker's host and port, as the test run's environment names them. */
const brokerServer = new URL(amqpBaseUrl);

/**
 * A database and a vhost of the test file's own, and two proxies a test can cut: one between
 * both processes and RabbitMQ, one between the consumer and MySQL (the producer reads directly,
 * so that its answers do not depend on the link being cut).
 */
export interface FaultStack {
  db: TestDatabase;
  vhost: TestVhost;
  brokerProxy: TcpProxy;
  databaseProxy: TcpProxy;
  /** The vhost's URL through the broker proxy. */
  proxiedAmqpUrl: string;
  /** Starts a consumer that reaches RabbitMQ and MySQL through the proxies. */
  startConsumer(env?: Record<string, string>): Promise<ServiceProcess>;
  /** Starts a producer that reaches RabbitMQ through the proxy. */
  startProducer(options: { rpcTimeoutMs: number; env?: Record<string, string> }): Promise<Producer>;
  /** Processes started elsewhere (not behind the proxies) that `release` stops too. */
  adopt(...services: ServiceProcess[]): void;
  /** Stops every process started here, then closes the proxies and drops the database and vhost. */
  release(): Promise<void>;
}

export async function createFaultStack(): Promise<FaultStack> {
  const opened = await Promise.allSettled([
    createTestDatabase(),
    createTestVhost(),
    startTcpProxy({ host: brokerServer.hostname, port: Number(brokerServer.port || 5672) }),
    startTcpProxy({ host: mysqlServer.host, port: mysqlServer.port }),
  ] as const);
  const [db, vhost, brokerProxy, databaseProxy] = opened.map((outcome) =>
    outcome.status === 'fulfilled' ? outcome.value : undefined,
  ) as [TestDatabase?, TestVhost?, TcpProxy?, TcpProxy?];
  if (!db || !vhost || !brokerProxy || !databaseProxy) {
    // Give back what did open before reporting what did not.
    await releaseAll([db?.drop(), vhost?.delete(), brokerProxy?.close(), databaseProxy?.close()]);
    const failure = opened.find((outcome) => outcome.status === 'rejected');
    throw failure?.reason;
  }
  const proxied = new URL(vhost.url);
  proxied.hostname = brokerProxy.host;
  proxied.port = String(brokerProxy.port);
  const proxiedAmqpUrl = proxied.toString();
  const services: ServiceProcess[] = [];

  return {
    db,
    vhost,
    brokerProxy,
    databaseProxy,
    proxiedAmqpUrl,
    async startConsumer(env = {}) {
      const consumer = await startConsumer({
        amqpUrl: proxiedAmqpUrl,
        database: db.name,
        env: {
          MYSQL_HOST: databaseProxy.host,
          MYSQL_PORT: String(databaseProxy.port),
          ...env,
        },
      });
      services.push(consumer);
      return consumer;
    },
    async startProducer({ rpcTimeoutMs, env }) {
      const producer = await startProducer({
        amqpUrl: proxiedAmqpUrl,
        database: db.name,
        rpcTimeoutMs,
        // The load here is the point of the test: no per-client request limit.
        env: { RATE_LIMIT_PER_MINUTE: '0', ...env },
      });
      services.push(producer);
      return producer;
    },
    adopt(...adopted) {
      services.push(...adopted);
    },
    async release() {
      // A proxy left cut would hold every stop up on reconnect attempts.
      brokerProxy.restore();
      databaseProxy.restore();
      try {
        await releaseAll(services.map((service) => service.stop()));
      } finally {
        await releaseAll([brokerProxy.close(), databaseProxy.close()]);
        await releaseAll([vhost.delete(), db.drop()]);
      }
    },
  };
}
