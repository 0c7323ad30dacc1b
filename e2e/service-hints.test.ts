import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { closedPort } from '../test-support/ports';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
/** The bench runs from its TypeScript source, as `npm run bench` runs it. */
const TSX = ['--import', pathToFileURL(require.resolve('tsx')).href];

/** Runs an entry point away from any .env; resolves with its exit code and stderr. */
async function runScript(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
  nodeArgs: string[] = [],
) {
  try {
    await run(process.execPath, [...nodeArgs, path.join(root, entry), ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      cwd: tmpdir(),
      timeout: 30_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
}

describe('a script whose service is not there says where it looked and how to start it', () => {
  it('npm run db:migrate names the MySQL address, its variables and the Docker services', async () => {
    const port = await closedPort();
    const { code, stderr } = await runScript('consumer/dist/migrate-main.js', {
      MYSQL_PORT: String(port),
    });
    expect(code).toBe(1);
    expect(stderr).toContain(`cannot reach MySQL at 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(stderr).toContain('MYSQL_HOST and MYSQL_PORT');
    expect(stderr).toContain('docker compose up -d mysql rabbitmq');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr.trim().split('\n')).toHaveLength(2);
  });

  it('npm run lifecycle names the producer it tried and BASE_URL', async () => {
    const port = await closedPort();
    const { code, stderr } = await runScript(
      'tools/dist/main.js',
      { BASE_URL: `http://127.0.0.1:${port}` },
      ['lifecycle'],
    );
    expect(code).toBe(1);
    expect(stderr).toContain(
      `cannot reach the producer at http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
    expect(stderr).toContain('BASE_URL');
    expect(stderr).toContain('npm start');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('npm run bench names the producer it was to drive, and --spawn the broker', async () => {
    const port = await closedPort();
    const drive = await runScript(
      'bench/src/main.ts',
      { BASE_URL: `http://127.0.0.1:${port}` },
      ['--no-docs'],
      TSX,
    );
    expect(drive.code).toBe(1);
    expect(drive.stderr).toContain(`cannot reach the producer at http://127.0.0.1:${port}`);
    expect(drive.stderr).toContain('--spawn');

    const spawn = await runScript(
      'bench/src/main.ts',
      { AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}` },
      ['--spawn', '--no-docs'],
      TSX,
    );
    expect(spawn.code).toBe(1);
    expect(spawn.stderr).toContain(`cannot reach RabbitMQ at 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(spawn.stderr).toContain('AMQP_URL');
    expect(spawn.stderr).not.toMatch(/^\s+at /m);
  });
});
