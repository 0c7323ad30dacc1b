import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a process may take to start, by default to stop after SIGTERM. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/** Lines of a process's output quoted in an error about it. */
const TAIL_LINES = 60;
const POLL_INTERVAL_MS = 100;

/**
 * Ends that count as a clean stop: exit code 0; SIGKILL, sent by `kill()` on purpose; SIGINT,
 * which a terminal's Ctrl-C sends the whole process group, and which ends a process still
 * starting before it has a handler for it.
 */
const CLEAN_SIGNALS: readonly NodeJS.Signals[] = ['SIGKILL', 'SIGINT'];

/** `E2E_SHOW_LOGS=1` streams what the processes print to the test's stderr as it happens. */
const SHOW_LOGS = process.env['E2E_SHOW_LOGS'] === '1';

/** One line a process printed: pino's JSON when it parses, else the raw text under `msg`. */
export interface LogLine {
  msg?: unknown;
  level?: number;
  [key: string]: unknown;
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Waiter {
  what: string;
  matches(line: LogLine): boolean;
  resolve(line: LogLine): void;
  reject(error: Error): void;
}

/** A Node.js program running as a child process of the test (or the bench). */
export interface NodeProcess<Name extends string = string> {
  readonly name: Name;
  readonly pid: number;
  /** Resolves with the first line (already printed or still to come) whose `msg` is `message`. */
  waitForMessage(message: string, timeoutMs?: number): Promise<LogLine>;
  /** The same for the first line that `matches`; `what` names it in a failure. */
  waitForLine(
    matches: (line: LogLine) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<LogLine>;
  /** Everything the process printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The lines printed so far, parsed, oldest first. */
  logLines(): readonly LogLine[];
  /** Resolves with the exit once the process is gone, however it ended. */
  waitForExit(): Promise<Exit>;
  /** SIGTERM, then waits for the exit; rejects when the exit is not clean. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** An error naming the process, with the last lines it printed. */
  failure(message: string): Error;
}

export interface SpawnSettings<Name extends string> {
  name: Name;
  /** The script `node` runs. */
  entry: string;
  /** Its command-line arguments. */
  args?: readonly string[];
  /** Options of `node` itself, before the script (`--cpu-prof`, ...). */
  nodeArgs?: readonly string[];
  /** The whole environment, apart from PATH: nothing leaks in from the caller's. */
  env: Record<string, string>;
  /** Opens an IPC channel, so that the child can tell when its parent is gone. */
  ipc?: boolean;
  /** How long `stop()` waits after SIGTERM before it kills the process and fails. */
  stopTimeoutMs?: number;
}

/** Runs `node <entry>` from a directory without a .env, so local settings cannot leak in. */
export function spawnNodeProcess<Name extends string>(
  settings: SpawnSettings<Name>,
): NodeProcess<Name> {
  const { name, entry, args = [], nodeArgs = [], env, ipc = false } = settings;
  const { stopTimeoutMs = STOP_TIMEOUT_MS } = settings;
  const child = spawn(process.execPath, [...nodeArgs, entry, ...args], {
    cwd: tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const { pid, stdout, stderr } = child;
  if (pid === undefined || !stdout || !stderr) throw new Error(`${name} could not be started`);

  const text: string[] = [];
  const lines: LogLine[] = [];
  const waiters = new Set<Waiter>();
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then both pipes are drained and closed.
    child.on('close', (code, signal) => {
      exit = { code, signal };
      for (const waiter of waiters) {
        waiter.reject(failure(`${name} exited (${describeExit(exit)}) before "${waiter.what}"`));
      }
      waiters.clear();
      resolve(exit);
    });
  });

  function failure(message: string): Error {
    return new Error(`${message}\n--- last lines of ${name} (pid ${pid}) ---\n${tail()}`);
  }

  function tail(): string {
    return text.slice(-TAIL_LINES).join('\n');
  }

  function record(raw: string, stream: 'stdout' | 'stderr'): void {
    text.push(stream === 'stderr' ? `[stderr] ${raw}` : raw);
    if (SHOW_LOGS) process.stderr.write(`${name}: ${raw}\n`);
    const line = parseLine(raw);
    lines.push(line);
    for (const waiter of waiters) {
      if (!waiter.matches(line)) continue;
      waiters.delete(waiter);
      waiter.resolve(line);
    }
  }

  // Always drained: a child blocked on a full pipe would stall.
  function follow(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const raw of complete) if (raw.trim() !== '') record(raw, name);
    });
    stream.on('end', () => {
      if (pending.trim() !== '') record(pending, name);
    });
  }
  follow(stdout, 'stdout');
  follow(stderr, 'stderr');

  function waitForMessage(message: string, timeoutMs = START_TIMEOUT_MS): Promise<LogLine> {
    return waitForLine((line) => line.msg === message, message, timeoutMs);
  }

  function waitForLine(
    matches: (line: LogLine) => boolean,
    what: string,
    timeoutMs = START_TIMEOUT_MS,
  ): Promise<LogLine> {
    const seen = lines.find(matches);
    if (seen) return Promise.resolve(seen);
    if (exit) {
      return Promise.reject(failure(`${name} exited (${describeExit(exit)}) before "${what}"`));
    }
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(failure(`${name} did not log "${what}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        what,
        matches,
        resolve(line) {
          clearTimeout(timer);
          resolve(line);
        },
        reject(error) {
          clearTimeout(timer);
          reject(error);
        },
      };
      waiters.add(waiter);
    });
  }

  async function stop(): Promise<void> {
    if (!exit) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const overdue = new Promise<'overdue'>((resolve) => {
      timer = setTimeout(() => resolve('overdue'), stopTimeoutMs);
    });
    const outcome = await Promise.race([exited, overdue]);
    clearTimeout(timer);
    if (outcome === 'overdue') {
      child.kill('SIGKILL');
      await exited;
      throw failure(`${name} did not stop within ${stopTimeoutMs} ms of SIGTERM`);
    }
    if (outcome.code !== 0 && !(outcome.signal && CLEAN_SIGNALS.includes(outcome.signal))) {
      throw failure(`${name} did not stop cleanly (${describeExit(outcome)})`);
    }
  }

  async function kill(): Promise<void> {
    if (!exit) child.kill('SIGKILL');
    await exited;
  }

  return {
    name,
    pid,
    waitForMessage,
    waitForLine,
    output: () => text.join('\n'),
    logLines: () => lines,
    waitForExit: () => exited,
    stop,
    kill,
    failure,
  };
}

/**
 * Resolves once `url` answers 200; fails when the process exits first or `timeoutMs` passes.
 * For a process too quiet to announce that it is ready (LOG_LEVEL warn).
 */
export async function waitUntilAnswering(
  service: NodeProcess,
  url: string,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  let exit: Exit | undefined;
  void service.waitForExit().then((how) => (exit = how));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exit)
      throw service.failure(
        `${service.name} exited (${describeExit(exit)}) before ${url} answered`,
      );
    if (await answersOk(url)) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw service.failure(`${service.name} did not answer 200 at ${url} within ${timeoutMs} ms`);
}

async function answersOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

function parseLine(raw: string): LogLine {
  if (raw.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'object' && parsed !== null) return parsed as LogLine;
    } catch {
      // Not pino's output after all: keep it as text.
    }
  }
  return { msg: raw };
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
