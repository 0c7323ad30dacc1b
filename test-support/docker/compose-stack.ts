import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ComposeProject } from './compose-project';

/** One container of a service as `docker inspect` sees it. */
export interface ContainerState {
  id: string;
  name: string;
  running: boolean;
  health: string | undefined;
  exitCode: number;
  restartCount: number;
  startedAt: string;
  finishedAt: string;
}

/** The containers of `service` (`ps -a`: exited ones too). */
export async function containersOf(
  project: ComposeProject,
  service: string,
): Promise<ContainerState[]> {
  const { stdout } = await project.compose(['ps', '-a', '-q', service]);
  const ids = stdout.split('\n').filter((id) => id.trim() !== '');
  if (ids.length === 0) return [];
  const { stdout: json } = await project.docker(['inspect', ...ids]);
  const inspected = JSON.parse(json) as {
    Id: string;
    Name: string;
    RestartCount: number;
    State: {
      Running: boolean;
      ExitCode: number;
      StartedAt: string;
      FinishedAt: string;
      Health?: { Status: string };
    };
  }[];
  return inspected.map(({ Id, Name, RestartCount, State }) => ({
    id: Id,
    name: Name.replace(/^\//, ''),
    running: State.Running,
    health: State.Health?.Status,
    exitCode: State.ExitCode,
    restartCount: RestartCount,
    startedAt: State.StartedAt,
    finishedAt: State.FinishedAt,
  }));
}

/** Waits until `count` containers of each service run and report healthy. */
export async function waitUntilHealthy(
  project: ComposeProject,
  services: Record<string, number>,
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(
      Object.entries(services).map(async ([service, count]) => {
        const healthy = (await containersOf(project, service)).filter(
          (container) => container.running && container.health === 'healthy',
        ).length;
        return { service, healthy, count };
      }),
    );
    if (states.every(({ healthy, count }) => healthy === count)) return;
    const seen = states
      .map(({ service, healthy, count }) => `${service} ${healthy}/${count}`)
      .join(', ');
    if (performance.now() > deadline)
      throw new Error(`not healthy within ${timeoutMs} ms: ${seen}`);
    await sleep(1_000);
  }
}

/**
 * The user ids the container's main process and its descendants run as: what the service runs
 * as, leaving out commands `docker exec` starts beside it (its healthcheck, say).
 */
export async function serviceUids(project: ComposeProject, containerId: string): Promise<string[]> {
  const { stdout: mainPid } = await project.docker([
    'inspect',
    '--format',
    '{{.State.Pid}}',
    containerId,
  ]);
  const { stdout } = await project.docker(['top', containerId, '-eo', 'pid,ppid,uid']);
  const processes = stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length === 3)
    .map(([pid = '', ppid = '', uid = '']) => ({ pid, ppid, uid }));
  const service = new Set([mainPid.trim()]);
  // Parents come before their children in ps's order only mostly: repeat until nothing joins.
  for (let grew = true; grew;) {
    grew = false;
    for (const { pid, ppid } of processes) {
      if (!service.has(pid) && service.has(ppid)) {
        service.add(pid);
        grew = true;
      }
    }
  }
  return [...new Set(processes.filter(({ pid }) => service.has(pid)).map(({ uid }) => uid))];
}
