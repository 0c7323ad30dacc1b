import { createServer } from 'node:net';

/**
 * A port nothing listens on right now. The services are started with LOG_LEVEL=warn, which
 * hides the "listening" line that reports a port chosen by PORT=0, so the bench picks it.
 */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
