import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';

/** Lines of a child's output kept for the error message when it fails. */
const TAIL_LINES = 40;
/** The producer waits up to 15 s for requests in hand; a little more before SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

const CLEAN_EXITS = new Set(['code 0', 'signal SIGTERM', 'signal SIGINT']);

export interface ChildService {
  readonly name: string;
  readonly pid: number;
  /** Resolves with a description of how the process ended. */
  readonly exited: Promise<string>;
  /** The last lines it printed, stdout and stderr interleaved. */
  tail(): string;
  /** SIGTERM, then SIGKILL if it outstays the timeout; rejects when the exit was not clean. */
  stop(): Promise<void>;
}

export interface SpawnSettings {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** Opens an IPC channel, so the child can tell when the bench is gone. */
  ipc?: boolean;
}

/** Runs `node <entry>` with exactly `env` (plus PATH), from a directory without a .env file. */
export function spawnService(settings: SpawnSettings): ChildService {
  const { name, entry, env, ipc = false } = settings;
  const child = spawn(process.execPath, [entry], {
    cwd: tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} could not be started`);

  const lines: string[] = [];
  const keep = (chunk: string) => {
    lines.push(...chunk.split('\n').filter((line) => line.trim() !== ''));
    lines.splice(0, Math.max(0, lines.length - TAIL_LINES));
  };
  // Always drained: a child blocked on a full pipe would stall the benchmark.
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);

  let ended = false;
  const exited = new Promise<string>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
  });

  async function stop(): Promise<void> {
    if (!ended) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const how = await exited;
    clearTimeout(timer);
    // Killed by a signal we or the terminal sent (before its handlers were installed) is fine too.
    if (!CLEAN_EXITS.has(how)) throw new Error(`${name} (pid ${pid}) ended with ${how}\n${tail()}`);
  }

  const tail = () => lines.join('\n');
  return { name, pid, exited, tail, stop };
}
