import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mysqlServer } from '../../test-support/database';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY_POINTS = {
  producer: path.join(ROOT, 'producer/dist/main.js'),
  consumer: path.join(ROOT, 'consumer/dist/main.js'),
} as const;

type ServiceName = keyof typeof ENTRY_POINTS;

/** How long a service may take to start, or to stop after SIGTERM. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/** Lines of a service's output quoted in an error about it. */
const TAIL_LINES = 60;

/** `E2E_SHOW_LOGS=1` streams what the services print to the test's stderr as it happens. */
const SHOW_LOGS = process.env['E2E_SHOW_LOGS'] === '1';

/** One line a service printed: pino's JSON when it parses, else the raw text under `msg`. */
export interface LogLine {
  msg?: unknown;
  level?: number;
  [key: string]: unknown;
}

/** How a service ended. */
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

/** A producer or consumer running as a child process of the test. */
export interface ServiceProcess {
  readonly name: ServiceName;
  readonly pid: number;
  /** Resolves with the first line (already printed or still to come) whose `msg` is `message`. */
  waitForMessage(message: string, timeoutMs?: number): Promise<LogLine>;
  /** Everything the service printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The lines printed so far, parsed, oldest first. */
  logLines(): readonly LogLine[];
  /** Resolves with the exit once the process is gone, however it ended. */
  waitForExit(): Promise<Exit>;
  /** SIGTERM, then waits for the exit; rejects when the exit is not clean. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface Producer extends ServiceProcess {
  /** `http://127.0.0.1:<port>`, the port the producer reported once listening. */
  readonly baseUrl: string;
}

function spawnService(name: ServiceName, settings: Record<string, string>): ServiceProcess {
  const entry = ENTRY_POINTS[name];
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: build first with \`npx tsc -b\` (npm test does)`);
  }
  const child = spawn(process.execPath, [entry], {
    // A directory without a .env, so a developer's local settings cannot leak into the run.
    cwd: tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', ...settings },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} could not be started`);

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
  follow(child.stdout, 'stdout');
  follow(child.stderr, 'stderr');

  function waitForMessage(message: string, timeoutMs = START_TIMEOUT_MS): Promise<LogLine> {
    const matches = (line: LogLine): boolean => line.msg === message;
    const seen = lines.find(matches);
    if (seen) return Promise.resolve(seen);
    if (exit) {
      return Promise.reject(failure(`${name} exited (${describeExit(exit)}) before "${message}"`));
    }
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(failure(`${name} did not log "${message}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        what: message,
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
      timer = setTimeout(() => resolve('overdue'), STOP_TIMEOUT_MS);
    });
    const outcome = await Promise.race([exited, overdue]);
    clearTimeout(timer);
    if (outcome === 'overdue') {
      child.kill('SIGKILL');
      await exited;
      throw failure(`${name} did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    }
    if (outcome.code !== 0 && outcome.signal !== 'SIGKILL') {
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
    output: () => text.join('\n'),
    logLines: () => lines,
    waitForExit: () => exited,
    stop,
    kill,
  };
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

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Settings every service gets: the test's broker vhost and database, nothing from the shell. */
function baseSettings(amqpUrl: string, database: string | undefined): Record<string, string> {
  return {
    AMQP_URL: amqpUrl,
    MYSQL_HOST: mysqlServer.host,
    MYSQL_PORT: String(mysqlServer.port),
    MYSQL_USER: mysqlServer.user,
    MYSQL_PASSWORD: mysqlServer.password,
    ...(database ? { MYSQL_DATABASE: database } : {}),
  };
}

/** Stops a process that failed to come up, keeping the start error as the one reported. */
async function started<T extends ServiceProcess>(service: T, ready: Promise<unknown>): Promise<T> {
  try {
    await ready;
    return service;
  } catch (error) {
    await service.kill();
    throw error;
  }
}

/**
 * Starts `node consumer/dist/main.js` and resolves once it consumes the command queues. `env`
 * adds or overrides settings (`MYSQL_PORT` of a proxy, `CONSUMER_CONCURRENCY`, ...).
 */
export async function startConsumer(options: {
  amqpUrl: string;
  database: string;
  env?: Record<string, string>;
}): Promise<ServiceProcess> {
  const consumer = spawnService('consumer', {
    ...baseSettings(options.amqpUrl, options.database),
    // A free port each, so several consumers can run side by side.
    METRICS_PORT: '0',
    ...options.env,
  });
  return started(consumer, consumer.waitForMessage('consuming commands'));
}

/**
 * Starts `node producer/dist/main.js` on a free port and resolves once it listens and, unless
 * `awaitBroker` is false, once its RPC channel to the broker is open. `env` adds or overrides
 * settings.
 */
export async function startProducer(options: {
  amqpUrl: string;
  database?: string;
  rpcTimeoutMs?: number;
  awaitBroker?: boolean;
  env?: Record<string, string>;
}): Promise<Producer> {
  const { amqpUrl, database, rpcTimeoutMs, awaitBroker = true, env } = options;
  const producer = spawnService('producer', {
    ...baseSettings(amqpUrl, database),
    PORT: '0',
    ...(rpcTimeoutMs === undefined ? {} : { RPC_TIMEOUT_MS: String(rpcTimeoutMs) }),
    // These tests call the API without tokens.
    AUTH_DISABLED: 'true',
    ...env,
  });
  const ready = (async () => {
    const listening = await producer.waitForMessage('listening');
    if (awaitBroker) await producer.waitForMessage('broker connected');
    if (typeof listening['port'] !== 'number') {
      throw new Error(`producer logged "listening" without a port: ${JSON.stringify(listening)}`);
    }
    return listening['port'];
  })();
  await started(producer, ready);
  return { ...producer, baseUrl: `http://127.0.0.1:${await ready}` };
}

/** Runs every release (stop, drop, delete) to the end, then reports the ones that failed. */
export async function releaseAll(releases: (Promise<unknown> | undefined)[]): Promise<void> {
  const outcomes = await Promise.allSettled(releases);
  const errors = outcomes.flatMap((outcome) =>
    outcome.status === 'rejected' ? [outcome.reason] : [],
  );
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several releases failed');
}
