import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { canInstallDebianPackages, installDebianPackages } from '../debian-packages';

const run = promisify(execFile);

/** The run folders live here, under short names: the engine's socket path must stay short. */
const RUN_ROOT = '/tmp';
const RUN_PREFIX = 'subscriptions-docker-';
const ENGINE_START_TIMEOUT_MS = 60_000;
const PID_FILE_GRACE_MS = 5_000;
const TEARDOWN_SCRIPT = path.join(__dirname, 'teardown.sh');
/** Debian's packages for what a Docker run needs: the engine, Compose 1.x, base-image roots. */
const DEBIAN_PACKAGES: Record<string, string> = {
  dockerd: 'docker.io',
  docker: 'docker.io',
  'docker-compose': 'docker-compose',
  debootstrap: 'debootstrap',
};

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

export interface DockerEngine {
  /** The run's folder: the engine's state, the compose project's copy, what teardown reads. */
  readonly baseDir: string;
  /** True when this run started the engine, false when it uses one it found running. */
  readonly isPrivate: boolean;
  /** What `docker compose version` says: v2 itself, or Compose 1.x behind the run's shim. */
  readonly composeVersion: string;
  /** The environment of every docker and docker compose command of the run. */
  readonly env: Record<string, string>;
  /** Runs `docker <args>`; rejects with its output when it fails. */
  docker(
    args: readonly string[],
    options?: { cwd?: string; timeoutMs?: number },
  ): Promise<CommandOutput>;
  /** Everything the run made goes: project, private engine, folder. Safe to call twice. */
  teardown(): Promise<void>;
}

/** How a missing piece is named: a line a person can act on. */
class MissingDocker extends Error {}

async function canRun(command: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
  try {
    await run(command, args, { env, timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

async function onPath(command: string): Promise<boolean> {
  return canRun('sh', ['-c', `command -v ${command}`]);
}

const isRoot = () => process.getuid?.() === 0;

/** On a Debian machine, as root, apt-get installs what is missing; elsewhere nothing is installed. */
async function installFromDebian(packages: readonly string[], log: (line: string) => void) {
  if (packages.length === 0) return;
  if (!(await canInstallDebianPackages())) {
    throw new MissingDocker(
      `the Docker test needs ${packages.join(', ')} (Debian: apt-get install ${packages.join(' ')})`,
    );
  }
  log(`docker test: installing Debian's ${packages.join(', ')} (once, under a minute)`);
  await installDebianPackages(packages);
}

/** GET /_ping on the engine's socket answers OK. */
function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ping = request({ socketPath, path: '/_ping', timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    ping.on('error', () => resolve(false));
    ping.on('timeout', () => ping.destroy());
    ping.end();
  });
}

/**
 * A detached shell that outlives this process: once it is gone, it runs the teardown of the run
 * folder, so an interrupted run (Ctrl-C, a killed Jest) leaves no engine or containers behind.
 */
function startWatchdog(baseDir: string): void {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    exec bash "$2" "$3"`;
  const watchdog = spawn(
    'sh',
    ['-c', script, 'docker-watchdog', String(process.pid), TEARDOWN_SCRIPT, baseDir],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
}

/**
 * Lets the README's `docker compose ...` run where only Compose 1.x (`docker-compose`) is
 * installed: a Docker CLI plugin in the run's own DOCKER_CONFIG that hands its arguments over.
 */
function installComposeShim(configDir: string): void {
  const plugins = path.join(configDir, 'cli-plugins');
  mkdirSync(plugins, { recursive: true });
  const shim = [
    '#!/bin/sh',
    '# `docker compose ...` as `docker-compose ...` (Compose 1.x), for this test run only.',
    'if [ "$1" = docker-cli-plugin-metadata ]; then',
    `  echo '{"SchemaVersion":"0.1.0","Vendor":"subscriptions test","Version":"1","ShortDescription":"Compose 1.x"}'`,
    '  exit 0',
    'fi',
    'shift',
    'exec docker-compose "$@"',
    '',
  ].join('\n');
  writeFileSync(path.join(plugins, 'docker-compose'), shim, { mode: 0o755 });
}

function engineArgs(baseDir: string): string[] {
  return [
    `--data-root=${path.join(baseDir, 'data')}`,
    `--exec-root=${path.join(baseDir, 'exec')}`,
    `--host=unix://${path.join(baseDir, 'docker.sock')}`,
    `--pidfile=${path.join(baseDir, 'dockerd.pid')}`,
    // The host's firewall, its docker0 bridge and its own engine are left alone: no NAT, no
    // iptables rules, no default bridge. Compose's networks and published ports still work.
    '--iptables=false',
    '--ip-masq=false',
    '--bridge=none',
  ];
}

/** Where the private engine of a run folder listens and writes its pid. */
function privateEnginePaths(baseDir: string) {
  const socketPath = path.join(baseDir, 'docker.sock');
  return {
    socketPath,
    DOCKER_HOST: `unix://${socketPath}`,
    pidFile: path.join(baseDir, 'dockerd.pid'),
  };
}

async function startPrivateEngine(baseDir: string, log: (line: string) => void) {
  const { socketPath } = privateEnginePaths(baseDir);
  const logFile = path.join(baseDir, 'dockerd.log');
  // Started by a shell that exits at once, so the daemon is nobody's child here: the teardown,
  // which waits for its pid to go, never waits on a process this one has yet to reap.
  await run('sh', [
    '-c',
    'log=$1; shift; setsid dockerd "$@" >>"$log" 2>&1 </dev/null &',
    'start',
    logFile,
    ...engineArgs(baseDir),
  ]);
  const pidFile = privateEnginePaths(baseDir).pidFile;
  const isRunning = async () => {
    const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    return pid > 0 && (await canRun('kill', ['-0', String(pid)]));
  };
  const startedAt = Date.now();
  while (!(await pingSocket(socketPath))) {
    const waited = Date.now() - startedAt;
    // The pid file appears within a second or two of the start; past that, no pid is a failure.
    const exited = waited > PID_FILE_GRACE_MS && !(await isRunning());
    if (exited || waited > ENGINE_START_TIMEOUT_MS) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15);
      throw new Error(`the private Docker engine did not start:\n${tail.join('\n')}`);
    }
    await sleep(200);
  }
  log(`docker test: private engine up (${socketPath})`);
}

/**
 * The engine the Docker test runs on, with every piece it needs: as root on Debian, a private
 * engine of its own (installing `docker.io`, `docker-compose` and `debootstrap` if missing);
 * elsewhere the engine found running (DOCKER_HOST or the default socket). Fails naming exactly
 * what is missing. `teardown()` removes everything, and a watchdog does when the run dies first.
 */
export async function startDockerEngine(log: (line: string) => void): Promise<DockerEngine> {
  const privateEngine = isRoot() && process.platform === 'linux';
  // debootstrap makes the stand-in base images, should the real ones not be reachable.
  const needed = privateEngine ? ['dockerd', 'docker', 'debootstrap'] : ['docker'];
  const missing: string[] = [];
  for (const command of needed) if (!(await onPath(command))) missing.push(command);
  const hasComposeV2 = await canRun('docker', ['compose', 'version']);
  if (!hasComposeV2 && !(await onPath('docker-compose'))) missing.push('docker-compose');
  const packages = [...new Set(missing.map((command) => DEBIAN_PACKAGES[command] ?? command))];
  await installFromDebian(packages, log);

  const baseDir = await mkdtemp(path.join(RUN_ROOT, RUN_PREFIX));
  const configDir = path.join(baseDir, 'config');
  mkdirSync(configDir, { recursive: true });
  const userConfig = path.join(
    process.env['DOCKER_CONFIG'] ?? path.join(homedir(), '.docker'),
    'config.json',
  );
  if (!privateEngine && existsSync(userConfig))
    copyFileSync(userConfig, path.join(configDir, 'config.json'));
  if (!hasComposeV2) installComposeShim(configDir);

  const engine = privateEngine ? privateEnginePaths(baseDir) : undefined;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    DOCKER_CONFIG: configDir,
    ...(engine && { DOCKER_HOST: engine.DOCKER_HOST }),
  };
  const writeRunEnv = () =>
    writeFileSync(
      path.join(baseDir, 'run.env'),
      [
        `DOCKER_HOST=${JSON.stringify(env['DOCKER_HOST'] ?? '')}`,
        `DOCKER_CONFIG=${JSON.stringify(configDir)}`,
        `PATH=${JSON.stringify(env['PATH'])}`,
        `ENGINE_PID_FILE=${JSON.stringify(engine?.pidFile ?? '')}`,
        '',
      ].join('\n'),
    );
  const teardown = async () => {
    await run('bash', [TEARDOWN_SCRIPT, baseDir], { timeout: 180_000 });
  };

  try {
    if (privateEngine) {
      // Written before the engine starts, so that a run killed while it starts still stops it.
      writeRunEnv();
      startWatchdog(baseDir);
      await startPrivateEngine(baseDir, log);
    } else {
      const host = process.env['DOCKER_HOST'];
      if (host) env['DOCKER_HOST'] = host;
      if (!(await canRun('docker', ['info'], { ...process.env, ...env }))) {
        throw new MissingDocker(
          `no Docker engine answers at ${host ?? 'the default socket'}, and this user cannot start ` +
            'a private one (that needs root on Linux): start Docker, or set DOCKER_HOST',
        );
      }
      writeRunEnv();
      startWatchdog(baseDir);
    }
    const { stdout } = await run('docker', ['compose', 'version', '--short'], { env });
    const docker: DockerEngine['docker'] = async (args, options = {}) => {
      try {
        return await run('docker', [...args], {
          env,
          cwd: options.cwd,
          timeout: options.timeoutMs ?? 300_000,
          maxBuffer: 64 * 1024 * 1024,
        });
      } catch (error) {
        const { stdout: out = '', stderr = '' } = error as Partial<CommandOutput>;
        throw new Error(`docker ${args.join(' ')} failed:\n${out}\n${stderr}`.trimEnd(), {
          cause: error,
        });
      }
    };
    return {
      baseDir,
      isPrivate: privateEngine,
      composeVersion: stdout.trim(),
      env,
      docker,
      teardown,
    };
  } catch (error) {
    await teardown().catch(() => undefined);
    throw error;
  }
}

export { MissingDocker };
