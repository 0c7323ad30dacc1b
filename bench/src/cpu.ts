import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * CPU time per answered request, by process. On a machine where every process shares the same
 * cores, this is what decides throughput: whichever design spends fewer microseconds of CPU on a
 * request, across all the processes it needs, answers more of them.
 */
export type CpuAccount = Record<string, number>;

/** A process whose CPU a cell is charged with. */
export interface CpuSubject {
  name: string;
  pid: number;
}

/** Linux reports utime and stime in clock ticks of USER_HZ, 100 a second on every common build. */
const TICKS_PER_SECOND = 100;

/** Seconds of CPU (user and system) the process has used so far; null once it is gone. */
async function cpuSeconds(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The command name (field 2) may hold spaces: count fields from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / TICKS_PER_SECOND : null;
}

/** Reads every subject's CPU now; `charge` then splits what each used since over the requests. */
export async function startCpuAccount(subjects: readonly CpuSubject[]) {
  const read = () => Promise.all(subjects.map(({ pid }) => cpuSeconds(pid)));
  const before = await read();
  return {
    async charge(requests: number): Promise<CpuAccount> {
      const after = await read();
      const account: CpuAccount = {};
      subjects.forEach(({ name }, index) => {
        const start = before[index];
        const end = after[index];
        if (start == null || end == null || requests === 0) return;
        account[name] = ((end - start) * 1e6) / requests;
      });
      return account;
    },
  };
}

/** Inodes of the sockets listening on `port`, from the kernel's TCP tables. */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: the local port is hex, state 0A is LISTEN.
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (fields[3] !== '0A' || local === undefined || fields[9] === undefined) continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * The process listening on `port` of this machine, found by its socket: other servers of the
 * same name (a test's private MariaDB, a private RabbitMQ cluster) may run beside the one the
 * bench talks to, and charging one of those would count the wrong work.
 */
async function findListeningProcess(name: string, port: number): Promise<CpuSubject | undefined> {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries.filter((candidate) => /^\d+$/.test(candidate))) {
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && inodes.has(inode)) return { name, pid: Number(entry) };
    }
  }
  return undefined;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * The broker's and the database's processes, when they run on this machine: the ones listening
 * on the ports the bench talks to. Their CPU counts against our stack and the baseline alike.
 */
export async function findServiceProcesses(services: {
  broker: { host: string; port: number };
  database: { host: string; port: number };
}): Promise<{
  broker: CpuSubject | undefined;
  database: CpuSubject | undefined;
}> {
  const find = (name: string, { host, port }: { host: string; port: number }) =>
    LOCAL_HOSTS.has(host) ? findListeningProcess(name, port) : Promise.resolve(undefined);
  const [broker, database] = await Promise.all([
    find('rabbitmq', services.broker),
    find('mysql', services.database),
  ]);
  return { broker, database };
}
