import { randomBytes } from 'node:crypto';
import { addVhost, deleteVhost, managementApiFor } from './rabbitmq-management';

/** The broker the test run uses, as its environment names it. */
export const amqpBaseUrl = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';

const management = managementApiFor(amqpBaseUrl, process.env['RABBITMQ_MANAGEMENT_URL']);

export interface TestVhost {
  name: string;
  /** AMQP URL of the vhost, with the run's broker credentials. */
  url: string;
  delete(): Promise<void>;
}

/**
 * A RabbitMQ virtual host of its own: the real topology names (SUBSCRIPTIONS, PURCHASED, ...)
 * without colliding with other test files or with a service running on the same broker.
 */
export async function createTestVhost(): Promise<TestVhost> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const url = new URL(amqpBaseUrl);
  await addVhost(management, name, decodeURIComponent(url.username || 'guest'));
  url.pathname = `/${encodeURIComponent(name)}`;
  return { name, url: url.toString(), delete: () => deleteVhost(management, name) };
}
