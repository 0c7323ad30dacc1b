import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Cleanup } from '../../test-support/cleanup';
import type { MysqlServer } from '../../test-support/database';
import { findFreePort } from '../../test-support/ports';
import {
  createPrivateMariadb,
  installDataDirectory,
  startWatchdog,
} from '../../test-support/private-mariadb';
import { type CpuCap, createCpuCap } from './cpu-cap';
import { type DatabaseStatus, watchDatabaseStatus } from './database-status';

/** The bench's own database server, its CPU capped; both designs' databases live on it. */
export interface CappedDatabase {
  server: MysqlServer;
  pid: number;
  cap: CpuCap;
  /** Its global counters, read around each cell. */
  status: DatabaseStatus;
}

/**
 * Starts a private MariaDB (own data directory and port, the machine's server untouched) with
 * durable settings, inside a CPU-quota control group. `cleanup` kills it, removes its data
 * directory and the group; a watchdog does the first two if the bench dies without cleaning up.
 */
export async function startCappedDatabase(
  options: { bufferPool: string },
  cleanup: Cleanup,
): Promise<CappedDatabase> {
  // First: without the right to make a control group there is nothing to measure.
  const cap = await createCpuCap(cleanup);
  const baseDir = await mkdtemp(path.join(tmpdir(), 'bench-mariadb-'));
  const watchdog = startWatchdog(baseDir);
  const dataDir = path.join(baseDir, 'server');
  const settings = [
    // What a production server keeps: every commit on disk before it is answered.
    '--innodb-flush-log-at-trx-commit=1',
    `--innodb-buffer-pool-size=${options.bufferPool}`,
    '--max-connections=500',
  ];
  const mariadb = createPrivateMariadb({
    name: 'bench database',
    dataDir,
    port: await findFreePort(),
    settings,
  });
  cleanup.add(`remove the private MariaDB in ${baseDir}`, async () => {
    await mariadb.kill();
    await rm(baseDir, { recursive: true, force: true });
    watchdog.kill('SIGKILL');
  });
  await installDataDirectory(dataDir);
  await mariadb.start();
  const pid = mariadb.pid();
  if (pid === undefined) throw new Error('the private MariaDB exited as it started');
  await cap.add(pid);
  const status = await watchDatabaseStatus(mariadb.server, cleanup);
  return { server: mariadb.server, pid, cap, status };
}
