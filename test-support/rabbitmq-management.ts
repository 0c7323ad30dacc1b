/**
 * The RabbitMQ management HTTP API, for what AMQP cannot do (virtual hosts and permissions).
 * Over HTTP it works against any broker the tests can reach, compose included, not only on the
 * broker's own host.
 */
export interface ManagementApi {
  /** Base URL without credentials, for messages. */
  baseUrl: string;
  request(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Response>;
}

/**
 * The management API beside the broker of `amqpUrl`: `RABBITMQ_MANAGEMENT_URL` when given, else
 * the same host on port 15672, with the AMQP URL's credentials.
 */
export function managementApiFor(amqpUrl: string, managementUrl?: string): ManagementApi {
  const amqp = new URL(amqpUrl);
  const base = new URL(managementUrl || `http://${amqp.hostname}:15672`);
  const user = decodeURIComponent(base.username || amqp.username || 'guest');
  const password = decodeURIComponent(base.password || amqp.password || 'guest');
  base.username = '';
  base.password = '';
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const baseUrl = base.toString().replace(/\/$/, '');
  return {
    baseUrl,
    request: (method, path, body) =>
      fetch(`${baseUrl}/api${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      }),
  };
}

async function expectStatus(
  api: ManagementApi,
  response: Response,
  what: string,
  ok: number[],
): Promise<void> {
  if (ok.includes(response.status)) return;
  const text = await response.text().catch(() => '');
  throw new Error(
    `RabbitMQ management API at ${api.baseUrl}: ${what} answered ${response.status} ${text}`.trim(),
  );
}

/** Creates `name` and gives the API's user every permission on it. */
export async function addVhost(api: ManagementApi, name: string, user: string): Promise<void> {
  const vhost = encodeURIComponent(name);
  await expectStatus(
    api,
    await api.request('PUT', `/vhosts/${vhost}`),
    `PUT vhost ${name}`,
    [201, 204],
  );
  await expectStatus(
    api,
    await api.request('PUT', `/permissions/${vhost}/${encodeURIComponent(user)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    }),
    `PUT permissions on ${name}`,
    [201, 204],
  );
}

/** Deletes `name`; one already gone is fine. */
export async function deleteVhost(api: ManagementApi, name: string): Promise<void> {
  const response = await api.request('DELETE', `/vhosts/${encodeURIComponent(name)}`);
  await expectStatus(api, response, `DELETE vhost ${name}`, [204, 404]);
}
