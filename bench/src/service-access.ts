import amqp from 'amqplib';
import {
  describeUnreachable,
  hostAndPort,
  isCredentialsRejected,
  isUnreachable,
  type ServiceTarget,
} from '@subscriptions/platform';
import type { MysqlServer } from '../../test-support/database';

/** How to get a stack to drive when none answers at BASE_URL. */
const START_STACK =
  'Start one first (`RATE_LIMIT_PER_MINUTE=0 npm start`, or `docker compose up -d`), or pass --spawn.';

export function mysqlTarget(server: MysqlServer): ServiceTarget {
  return {
    service: 'MySQL',
    address: `${server.host}:${server.port}`,
    variables: ['MYSQL_HOST', 'MYSQL_PORT'],
    credentials: ['MYSQL_USER', 'MYSQL_PASSWORD'],
  };
}

function brokerTarget(amqpUrl: string): ServiceTarget {
  return {
    service: 'RabbitMQ',
    address: hostAndPort(amqpUrl),
    variables: ['AMQP_URL'],
    credentials: ['the user and password of AMQP_URL'],
  };
}

/** Where scratch vhosts are made: `managementUrl`, else port 15672 of the broker's host. */
function managementOrigin(amqpUrl: string, managementUrl: string | undefined): string {
  return managementUrl
    ? new URL(managementUrl).origin
    : `http://${new URL(amqpUrl).hostname}:15672`;
}

function managementTarget(amqpUrl: string, managementUrl: string | undefined): ServiceTarget {
  return {
    service: 'the RabbitMQ management API',
    address: managementOrigin(amqpUrl, managementUrl),
    variables: ['RABBITMQ_MANAGEMENT_URL', 'AMQP_URL'],
    remedy:
      'Enable it with `rabbitmq-plugins enable rabbitmq_management`, or start the broker in Docker: `docker compose up -d mysql rabbitmq`.',
  };
}

export function producerTarget(baseUrl: string): ServiceTarget {
  return {
    service: 'the producer',
    address: new URL(baseUrl).origin,
    variables: ['BASE_URL'],
    remedy: START_STACK,
  };
}

/**
 * Runs `attempt`; when `target` does not answer or refuses the login, fails with the lines that
 * say so (what was tried, which variables choose it, how to start it) instead of a driver error.
 */
export async function reaching<T>(target: ServiceTarget, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (!isUnreachable(error) && !isCredentialsRejected(error)) throw error;
    throw new Error(describeUnreachable({ ...target, error }), { cause: error });
  }
}

/**
 * Opens and closes one broker connection, and asks the management API for anything at all. A
 * consumer started against a broker it cannot reach would retry until the bench gives up on
 * it; checked before anything is made, a missing piece is named at once and nothing is left
 * to clean up.
 */
export async function checkBroker(
  amqpUrl: string,
  managementUrl: string | undefined,
): Promise<void> {
  await reaching(brokerTarget(amqpUrl), async () => {
    const connection = await amqp.connect(amqpUrl, { timeout: 5_000 });
    await connection.close();
  });
  await reaching(managementTarget(amqpUrl, managementUrl), async () => {
    const response = await fetch(`${managementOrigin(amqpUrl, managementUrl)}/api/overview`, {
      signal: AbortSignal.timeout(5_000),
    });
    await response.body?.cancel();
  });
}
