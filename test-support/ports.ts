import { createServer } from 'node:net';

/**
 * A loopback port that nothing listens on: taken from the OS, then given back. For a service to
 * listen on when its own "listening" line cannot be read (it runs at LOG_LEVEL warn).
 */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The same, seen from a client: a port where a connection is refused. */
export const closedPort = findFreePort;
