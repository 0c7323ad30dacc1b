import { randomBytes } from 'node:crypto';
import { access, appendFile, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cleanup } from '../../test-support/cleanup';

/** The scheduler's accounting period; the quota is a share of it. */
const PERIOD_US = 100_000;

/**
 * A CPU-quota control group holding one process (the bench's private database): however many
 * threads it runs, together they get `cores` CPUs' worth of time per period, then wait.
 */
export interface CpuCap {
  limit(cores: number): Promise<void>;
  /** Moves a process (with all its threads) in. */
  add(pid: number): Promise<void>;
}

interface Layout {
  version: 1 | 2;
  /** The hierarchy's root: where processes go back to, and where the group is made. */
  root: string;
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** cgroup v2 (one unified hierarchy with `cpu.max`) or v1 (a `cpu` hierarchy with CFS files). */
async function findLayout(): Promise<Layout | null> {
  if (await exists('/sys/fs/cgroup/cgroup.controllers')) {
    const controllers = await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8');
    return controllers.split(/\s+/).includes('cpu') ? { version: 2, root: '/sys/fs/cgroup' } : null;
  }
  for (const root of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    if (await exists(path.join(root, 'cpu.cfs_quota_us'))) return { version: 1, root };
  }
  return null;
}

/**
 * Makes the group, or explains in one line why it cannot (no cgroup CPU controller, or no right
 * to write it: root is needed). `cleanup` moves its processes back and removes it.
 */
export async function createCpuCap(cleanup: Cleanup): Promise<CpuCap> {
  const layout = await findLayout();
  if (!layout) {
    throw new Error(
      '--db-cpu needs a cgroup CPU controller (v2 with "cpu" in /sys/fs/cgroup/cgroup.controllers, ' +
        'or v1 at /sys/fs/cgroup/cpu), and this machine has none',
    );
  }
  const group = path.join(layout.root, `subscriptions-bench-${randomBytes(4).toString('hex')}`);
  try {
    if (layout.version === 2) {
      // The cpu controller must be on for the root's children (it may be already).
      await appendFile(path.join(layout.root, 'cgroup.subtree_control'), '+cpu').catch(
        () => undefined,
      );
    }
    await mkdir(group);
  } catch (error) {
    throw new Error(
      `--db-cpu cannot make the control group ${group} (${(error as { code?: string }).code ?? String(error)}): ` +
        'writing cgroups needs root, and a cgroup file system mounted read-write',
      { cause: error },
    );
  }
  cleanup.add(`remove control group ${group}`, async () => {
    // A group with processes in it cannot be removed: send them back to the root first.
    const procs = await readFile(path.join(group, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      await writeFile(path.join(layout.root, 'cgroup.procs'), pid).catch(() => undefined);
    }
    await rmdir(group);
  });
  const file = (name: string) => path.join(group, name);
  return {
    async limit(cores) {
      const quota = Math.max(1_000, Math.round(cores * PERIOD_US));
      if (layout.version === 2) {
        await writeFile(file('cpu.max'), `${quota} ${PERIOD_US}`);
      } else {
        await writeFile(file('cpu.cfs_period_us'), String(PERIOD_US));
        await writeFile(file('cpu.cfs_quota_us'), String(quota));
      }
    },
    async add(pid) {
      await writeFile(file('cgroup.procs'), String(pid));
    },
  };
}
