import { randomBytes } from 'node:crypto';
import type { Cleanup } from './cleanup';

/**
 * A RabbitMQ vhost `bench_<random>`: the topology names are fixed, so a vhost of its own keeps
 * the scratch stack off any service using the same broker. Made over the management HTTP API
 * (the AMQP URL's host, port 15672, or `managementUrl`), so any reachable broker will do.
 * Deleted by `cleanup`. Returns the AMQP URL of the vhost.
 */
export async function createScratchVhost(
  amqpUrl: string,
  cleanup: Cleanup,
  managementUrl?: string,
): Promise<string> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const base = new URL(amqpUrl);
  const user = decodeURIComponent(base.username || 'guest');
  const api = managementRequest(base, managementUrl);
  const vhost = `/vhosts/${encodeURIComponent(name)}`;
  // Registered first: a PUT cut short by Ctrl-C may still have created it.
  cleanup.add(`delete vhost ${name}`, () => api('DELETE', vhost, [204, 404]));
  await api('PUT', vhost, [201, 204]);
  await api(
    'PUT',
    `/permissions/${encodeURIComponent(name)}/${encodeURIComponent(user)}`,
    [201, 204],
    {
      configure: '.*',
      write: '.*',
      read: '.*',
    },
  );
  base.pathname = `/${encodeURIComponent(name)}`;
  return base.toString();
}

function managementRequest(amqp: URL, managementUrl: string | undefined) {
  const base = new URL(managementUrl || `http://${amqp.hostname}:15672`);
  const user = decodeURIComponent(base.username || amqp.username || 'guest');
  const password = decodeURIComponent(base.password || amqp.password || 'guest');
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const origin = `${base.protocol}//${base.host}${base.pathname.replace(/\/$/, '')}`;
  return async (method: string, path: string, ok: number[], body?: unknown): Promise<void> => {
    const response = await fetch(`${origin}/api${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!ok.includes(response.status)) {
      const text = await response.text().catch(() => '');
      throw new Error(
        `RabbitMQ management API at ${origin}: ${method} ${path} answered ${response.status} ${text}`,
      );
    }
  };
}
