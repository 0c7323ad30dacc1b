import { spawnService } from './child-service';
import type { Cleanup } from './cleanup';
import { findFreePort } from './free-port';
import type { IdRange, MysqlServer } from './options';
import { ENTRY_POINTS } from './paths';
import { createScratchDatabase } from './scratch-database';
import { waitUntilReady } from './wait-ready';

export interface Baseline {
  baseUrl: string;
  pid: number;
  userIds: IdRange;
  serverVersion: string;
}

/**
 * The plain API on a scratch database of its own, in a child process so that it has a CPU
 * budget of its own, as the producer does.
 */
export async function startBaseline(
  settings: { mysql: MysqlServer; users: number; poolSize: number },
  cleanup: Cleanup,
): Promise<Baseline> {
  const database = await createScratchDatabase(settings.mysql, settings.users, cleanup);
  const port = await findFreePort();
  const server = spawnService({
    name: 'baseline',
    entry: ENTRY_POINTS.baseline,
    env: {
      PORT: String(port),
      MYSQL_HOST: settings.mysql.host,
      MYSQL_PORT: String(settings.mysql.port),
      MYSQL_USER: settings.mysql.user,
      MYSQL_PASSWORD: settings.mysql.password,
      MYSQL_DATABASE: database.name,
      POOL_SIZE: String(settings.poolSize),
    },
    ipc: true,
  });
  cleanup.add('stop baseline', () => server.stop());
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(server, `${baseUrl}/healthz`);
  return {
    baseUrl,
    pid: server.pid,
    userIds: database.userIds,
    serverVersion: database.serverVersion,
  };
}
