import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Cleanup } from './cleanup';

const run = promisify(execFile);

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run('rabbitmqctl', ['--quiet', ...args], { timeout: 30_000 });
}

/**
 * A RabbitMQ vhost `bench_<random>`: the topology names are fixed, so a vhost of its own keeps
 * the scratch stack off any service using the same broker. Deleted by `cleanup`.
 * Returns the AMQP URL of the vhost.
 */
export async function createScratchVhost(amqpUrl: string, cleanup: Cleanup): Promise<string> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const base = new URL(amqpUrl);
  // Registered first: an add_vhost cut short by Ctrl-C may still have created it.
  cleanup.add(`delete vhost ${name}`, () => deleteVhost(name));
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl(
    'set_permissions',
    '-p',
    name,
    decodeURIComponent(base.username || 'guest'),
    '.*',
    '.*',
    '.*',
  );
  base.pathname = `/${encodeURIComponent(name)}`;
  return base.toString();
}

async function deleteVhost(name: string): Promise<void> {
  try {
    await rabbitmqctl('delete_vhost', name);
  } catch (error) {
    if (!String((error as { stderr?: unknown }).stderr).includes('does not exist')) throw error;
  }
}
