import { randomBytes } from 'node:crypto';
import type { Cleanup } from './cleanup';
import { addVhost, deleteVhost, managementApiFor } from './rabbitmq-management';

/** The broker the test run uses, as its environment names it. */
export const amqpBaseUrl = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';

export interface TestVhost {
  name: string;
  /** AMQP URL of the vhost, with the broker's credentials. */
  url: string;
  delete(): Promise<void>;
}

export interface TestVhostOptions {
  /** Starts the random name: `t_` (the default) for test files, `bench_` for the bench. */
  prefix?: string;
  /** The broker; the test run's own when unset. */
  amqpUrl?: string;
  /** Its management API; `RABBITMQ_MANAGEMENT_URL`, else port 15672 of the broker's host. */
  managementUrl?: string | undefined;
  /** Gets the delete before anything is made, so a run cut short still removes the vhost. */
  cleanup?: Cleanup;
}

/**
 * A RabbitMQ virtual host of its own: the real topology names (SUBSCRIPTIONS, PURCHASED, ...)
 * without colliding with other test files or with a service running on the same broker.
 */
export async function createTestVhost(options: TestVhostOptions = {}): Promise<TestVhost> {
  const { prefix = 't_', amqpUrl = amqpBaseUrl, cleanup } = options;
  const managementUrl = options.managementUrl ?? process.env['RABBITMQ_MANAGEMENT_URL'];
  const management = managementApiFor(amqpUrl, managementUrl);
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  const url = new URL(amqpUrl);
  const remove = () => deleteVhost(management, name);
  // First: a PUT cut short may still have made it.
  cleanup?.add(`delete vhost ${name}`, remove);
  await addVhost(management, name, decodeURIComponent(url.username || 'guest'));
  url.pathname = `/${encodeURIComponent(name)}`;
  return { name, url: url.toString(), delete: remove };
}
