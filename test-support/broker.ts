import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

const baseUrl = new URL(process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672');

export interface TestVhost {
  name: string;
  /** AMQP URL of the vhost, with the machine's broker credentials. */
  url: string;
  delete(): Promise<void>;
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run('rabbitmqctl', ['--quiet', ...args], { timeout: 30_000 });
}

/**
 * A RabbitMQ virtual host of its own: the real topology names (SUBSCRIPTIONS, PURCHASED, ...)
 * without colliding with other test files or with a service running on the same broker.
 */
export async function createTestVhost(): Promise<TestVhost> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const user = decodeURIComponent(baseUrl.username || 'guest');
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, user, '.*', '.*', '.*');
  const url = new URL(baseUrl.toString());
  url.pathname = `/${encodeURIComponent(name)}`;
  return {
    name,
    url: url.toString(),
    delete: () => rabbitmqctl('delete_vhost', name),
  };
}
