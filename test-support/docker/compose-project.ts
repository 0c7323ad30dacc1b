import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { findFreePort } from '../ports';
import type { CommandOutput, DockerEngine } from './engine';

const run = promisify(execFile);

/** The override that gives image builds the host's network, for an engine with no way out. */
const BUILD_NETWORK_OVERRIDE = 'test-support/docker/build-on-host-network.yml';

/** The host ports a run publishes, each one free when the run began. */
export interface PublishedPorts {
  api: number;
  mysql: number;
  amqp: number;
  management: number;
}

export interface ShellResult extends CommandOutput {
  code: number;
}

/** A copy of the repository with a `.env` of its own, run as one compose project. */
export interface ComposeProject {
  readonly dir: string;
  readonly name: string;
  readonly ports: PublishedPorts;
  readonly apiUrl: string;
  /** `.env.example`, the defaults a fresh clone runs with (passwords, the JWT secret). */
  readonly defaults: Readonly<Record<string, string>>;
  /** `docker <args>` on the project's engine. */
  docker(args: readonly string[], options?: { timeoutMs?: number }): Promise<CommandOutput>;
  /** `docker compose <args>` in the project; rejects with its output when it fails. */
  compose(args: readonly string[], options?: { timeoutMs?: number }): Promise<CommandOutput>;
  /** A bash script in the project, as a user's terminal would run it (DOCKER_HOST and all). */
  shell(script: string, options?: { timeoutMs?: number }): Promise<ShellResult>;
}

/** `KEY=value` lines, comments and blank lines skipped. */
export function parseEnvFile(text: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) entries.push([match[1] ?? '', match[2] ?? '']);
  }
  return Object.fromEntries(entries);
}

/** The files a clone of `root` has: tracked ones and new ones git does not ignore. */
async function listCloneFiles(root: string): Promise<string[]> {
  const { stdout } = await run(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout.split('\0').filter((file) => file !== '');
}

/**
 * Copies the repository as a clone would have it into the run folder and writes its `.env`: a
 * project and image names of its own, every published host port moved to a free one, and, on a private
 * engine, the build-network override through COMPOSE_FILE. Nothing else is set, so everything
 * else runs on the defaults a new user gets.
 */
export async function createComposeProject(
  engine: DockerEngine,
  options: { root: string },
): Promise<ComposeProject> {
  const { root } = options;
  const dir = path.join(engine.baseDir, 'project');
  for (const file of await listCloneFiles(root)) {
    const target = path.join(dir, file);
    await mkdir(path.dirname(target), { recursive: true });
    // A file deleted but not yet staged is listed and absent: a clone would not have it either.
    await cp(path.join(root, file), target).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  const name = path.basename(engine.baseDir).toLowerCase();
  const ports: PublishedPorts = {
    api: await findFreePort(),
    mysql: await findFreePort(),
    amqp: await findFreePort(),
    management: await findFreePort(),
  };
  const composeFiles = ['docker-compose.yml', 'docker-compose.override.yml'];
  if (engine.isPrivate) composeFiles.push(BUILD_NETWORK_OVERRIDE);
  await writeFile(
    path.join(dir, '.env'),
    [
      `COMPOSE_PROJECT_NAME=${name}`,
      `IMAGE_PREFIX=${name}`,
      `COMPOSE_FILE=${composeFiles.join(':')}`,
      `API_PORT=${ports.api}`,
      `MYSQL_PUBLISHED_PORT=${ports.mysql}`,
      `AMQP_PUBLISHED_PORT=${ports.amqp}`,
      `MANAGEMENT_PUBLISHED_PORT=${ports.management}`,
      '',
    ].join('\n'),
  );
  const defaults = parseEnvFile(await readFile(path.join(dir, '.env.example'), 'utf8'));

  const shell: ComposeProject['shell'] = (script, shellOptions = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd: dir, env: engine.env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), shellOptions.timeoutMs ?? 600_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code: code ?? -1 });
      });
    });

  return {
    dir,
    name,
    ports,
    apiUrl: `http://127.0.0.1:${ports.api}`,
    defaults,
    docker: (args, dockerOptions) => engine.docker(args, { cwd: dir, ...dockerOptions }),
    compose: (args, composeOptions) =>
      engine.docker(['compose', ...args], { cwd: dir, ...composeOptions }),
    shell,
  };
}
