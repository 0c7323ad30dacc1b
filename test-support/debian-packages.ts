import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long apt-get waits for another apt or dpkg run to let go of its lock. */
const LOCK_WAIT_SECONDS = 300;

/** Whether this process may install Debian packages: root, with apt-get on the path. */
export async function canInstallDebianPackages(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  return run('sh', ['-c', 'command -v apt-get']).then(
    () => true,
    () => false,
  );
}

/**
 * Installs Debian packages with apt-get: from the package lists the machine has, and once more
 * after `apt-get update` when that fails (lists missing or stale). Two test runs on one machine
 * may install at the same moment, so each waits for the other's lock instead of failing on it.
 */
export async function installDebianPackages(packages: readonly string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lockWait = ['-o', `DPkg::Lock::Timeout=${LOCK_WAIT_SECONDS}`];
  const apt = (args: string[]) => run('apt-get', [...lockWait, ...args], { env, timeout: 900_000 });
  await apt(['install', '-y', '-qq', ...packages]).catch(async () => {
    await apt(['update', '-qq']);
    await apt(['install', '-y', '-qq', ...packages]);
  });
}
