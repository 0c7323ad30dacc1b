import { readdir, readFile } from 'node:fs/promises';

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

/**
 * The broker's and the database's processes, when they run on this machine (they are found by
 * name in /proc); their CPU counts against our stack and the baseline alike.
 */
export async function findServiceProcesses(): Promise<{
  broker: CpuSubject | undefined;
  database: CpuSubject | undefined;
}> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const byName = new Map<string, number>();
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        const name = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
        if (!byName.has(name)) byName.set(name, Number(entry));
      }),
  );
  const find = (name: string, candidates: string[]) => {
    const pid = candidates.map((candidate) => byName.get(candidate)).find(Boolean);
    return pid === undefined ? undefined : { name, pid };
  };
  return {
    broker: find('rabbitmq', ['beam.smp']),
    database: find('mysql', ['mariadbd', 'mysqld']),
  };
}
