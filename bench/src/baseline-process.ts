import type { Cleanup } from '../../test-support/cleanup';
import type { MysqlServer } from '../../test-support/database';
import { spawnNodeProcess, waitUntilAnswering } from '../../test-support/processes/node-process';
import { findFreePort } from '../../test-support/ports';
import type { IdRange } from './options';
import { BASELINE_ENTRY } from './paths';
import { createScratchDatabase } from './scratch-database';

/** The baseline cuts lingering keep-alive connections after 2 s; the rest is slack. */
const STOP_TIMEOUT_MS = 20_000;

interface Baseline {
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
  const server = spawnNodeProcess({
    name: 'baseline',
    entry: BASELINE_ENTRY,
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
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  cleanup.add('stop baseline', () => server.stop());
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(server, `${baseUrl}/healthz`);
  return {
    baseUrl,
    pid: server.pid,
    userIds: database.userIds,
    serverVersion: database.serverVersion,
  };
}
