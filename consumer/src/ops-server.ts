import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/**
 * The consumer's small HTTP side: `/metrics` for Prometheus, `/healthz` (the process runs) and
 * `/readyz` (it is consuming and the database answers) for orchestrators.
 */
export function startOpsServer(deps: {
  port: number;
  registry: Registry;
  isReady: () => Promise<boolean>;
  logger: Logger;
}): Promise<Server> {
  const { port, registry, isReady, logger } = deps;
  const server = createServer((req, res) => {
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type }).end(body);
    };
    const json = (status: number, body: object) =>
      reply(status, 'application/json', JSON.stringify(body));
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return json(405, { status: 'method not allowed' });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      isReady().then(
        (ready) => json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' }),
        () => json(503, { status: 'not ready' }),
      );
      return undefined;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, registry.contentType, text),
        (error: unknown) => {
          logger.error({ err: error }, 'metrics collection failed');
          json(500, { status: 'error' });
        },
      );
      return undefined;
    }
    return json(404, { status: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      const address = server.address();
      logger.info(
        { port: typeof address === 'object' && address ? address.port : port },
        'metrics listening',
      );
      resolve(server);
    });
  });
}
