import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mysql from 'mysql2/promise';
import { signToken } from '@subscriptions/tools';
import {
  createComposeProject,
  type ComposeProject,
} from '../../test-support/docker/compose-project';
import {
  type ContainerState,
  containersOf,
  serviceUids,
  waitUntilHealthy,
} from '../../test-support/docker/compose-stack';
import { type DockerEngine, startDockerEngine } from '../../test-support/docker/engine';
import { provideBaseImages } from '../../test-support/docker/stand-ins';
import { type Api, createApi } from '../../test-support/http/api';
import { readCommand, RESPOND_ASYNC, waitForAllCompleted } from '../../test-support/http/commands';
import {
  auditKeyedLoad,
  firstSuccessAfter,
  type KeyedLoad,
  LIFECYCLE,
  measureKeyedLoad,
  startKeyedLoad,
} from '../../test-support/http/keyed-load';
import { printFigures, waitUntil } from '../../test-support/http/load';
import { createUsers } from '../../test-support/outcomes/ledger';

/**
 * The compose stack built and run on a real Docker engine, driven as a user would: the README's
 * quick-start, scaling out, broker and database restarts, a graceful stop, an upgrade.
 */

const ROOT = path.resolve(__dirname, '../..');
const STAND_IN_CACHE = path.join(ROOT, 'node_modules/.cache/docker-stand-ins');
const log = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

/** The block under the README's `docker-quick-start` marker. */
async function readQuickStart(): Promise<string> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- docker-quick-start[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no ```sh block under <!-- docker-quick-start -->');
  return block;
}

let engine: DockerEngine | undefined;
let project: ComposeProject;
let pool: mysql.Pool | undefined;
let api: Api;

/** Every subscription of the stack's database, however many runs made them. */
async function countSubscriptions(): Promise<number> {
  const [rows] = await (pool as mysql.Pool).query<mysql.RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM subscription',
  );
  return Number(rows[0]?.['n']);
}

async function waitUntilReady(timeoutMs = 120_000): Promise<void> {
  await waitUntil(
    'the producer answers /readyz with 200',
    () =>
      fetch(`${project.apiUrl}/readyz`).then(
        (response) => response.status === 200,
        () => false,
      ),
    timeoutMs,
    250,
  );
}

/** What must not change while a dependency restarts: the same containers, never restarted. */
async function snapshotServices(): Promise<string> {
  const states = [
    ...(await containersOf(project, 'producer')),
    ...(await containersOf(project, 'consumer')),
  ];
  return states
    .map(({ id, startedAt, restartCount }) => `${id.slice(0, 12)} ${startedAt} ${restartCount}`)
    .join('\n');
}

beforeAll(async () => {
  const started = performance.now();
  engine = await startDockerEngine(log);
  const engineSeconds = seconds(started);
  const imagesStarted = performance.now();
  const baseImages = await provideBaseImages(engine, { root: ROOT, cacheDir: STAND_IN_CACHE, log });
  project = await createComposeProject(engine, { root: ROOT });
  printFigures('docker: setup', {
    engine: engine.isPrivate ? 'private' : 'found running',
    compose: engine.composeVersion,
    engine_s: engineSeconds,
    base_images_s: seconds(imagesStarted),
    base_images: Object.fromEntries(
      baseImages.map((image) => [image.tag, `${image.source} ${image.seconds}s`]),
    ),
    ports: project.ports,
  });
}, 900_000);

afterAll(async () => {
  await pool?.end();
  const started = performance.now();
  await engine?.teardown();
  if (engine) printFigures('docker: teardown', { seconds: seconds(started) });
}, 300_000);

describe('the compose stack on a real Docker engine', () => {
  it("runs the README's quick-start as written: the tools' token, POST, PUT, lifecycle, /readyz, the docs page", async () => {
    const quickStart = (await readQuickStart()).replaceAll(
      'localhost:5000',
      `localhost:${project.ports.api}`,
    );
    const started = performance.now();
    const result = await project.shell(`set -euo pipefail\n${quickStart}`, { timeoutMs: 900_000 });
    const output = `${result.stdout}\n${result.stderr}`;
    if (result.code !== 0)
      throw new Error(`the quick-start exited ${result.code}:\n${output.slice(-4000)}`);
    const docs = await fetch(`${project.apiUrl}/api/docs`);
    printFigures('docker: README quick-start', {
      seconds: seconds(started),
      docs_page: docs.status,
    });

    expect(result.stdout).toContain('{"status":"ready"}');
    expect(result.stdout).toMatch(/HTTP\/1\.1 201 Created/);
    expect(result.stdout).toMatch(/"id":1,"user_id":1,"status":"ACTIVE"/);
    expect(result.stdout).toMatch(/HTTP\/1\.1 200 OK/);
    expect(result.stdout).toMatch(/"id":1,"user_id":1,"status":"CANCELED"/);
    expect(result.stdout).toContain('Lifecycle passed');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');

    // The rest of the scenarios drive the stack the quick-start brought up.
    const { defaults } = project;
    pool = mysql.createPool({
      host: '127.0.0.1',
      port: project.ports.mysql,
      user: 'root',
      password: defaults['MYSQL_ROOT_PASSWORD'] ?? '',
      database: 'subscriptions',
      timezone: 'Z',
      connectionLimit: 4,
    });
    const token = await signToken({
      secret: defaults['AUTH_JWT_SECRET'] ?? '',
      userId: 1,
      admin: true,
      ttlSeconds: 3_600,
    });
    api = createApi(project.apiUrl, { authorization: `Bearer ${token}` });
  });

  it('scaled to three consumers, applies each of 300 keyed purchases once, all three taking part', async () => {
    const scaleStarted = performance.now();
    await project.compose(['up', '-d', '--scale', 'consumer=3'], { timeoutMs: 300_000 });
    await waitUntilHealthy(project, { consumer: 3, producer: 1 });
    const scaleSeconds = seconds(scaleStarted);

    const users = await createUsers(pool as mysql.Pool, 300, 'Docker scale');
    const loadStarted = performance.now();
    const load = startKeyedLoad({ apis: [api], users, chain: ['purchase'], clientsPerApi: 10 });
    await load.done;
    const loadSeconds = seconds(loadStarted);
    const processed = await Promise.all(
      (await containersOf(project, 'consumer')).map(async (container) => {
        const { stdout } = await project.docker([
          'exec',
          container.id,
          'node',
          '-e',
          'fetch("http://127.0.0.1:9464/metrics").then((r) => r.text()).then(console.log)',
        ]);
        return [...stdout.matchAll(/^subscriptions_commands_processed_total\{[^}]*\} (\d+)/gm)]
          .map((match) => Number(match[1]))
          .reduce((sum, count) => sum + count, 0);
      }),
    );
    const figures = measureKeyedLoad(load.requests);
    printFigures('docker: --scale consumer=3', {
      scale_s: scaleSeconds,
      load_s: loadSeconds,
      purchases_per_s: Math.round(load.requests.length / loadSeconds),
      ...figures,
      commands_per_consumer: processed,
    });

    expect(await auditKeyedLoad(pool as mysql.Pool, load.requests)).toEqual([]);
    expect(load.requests).toHaveLength(300);
    expect(processed.every((count) => count > 0)).toBe(true);

    await project.compose(['up', '-d', '--scale', 'consumer=1'], { timeoutMs: 300_000 });
    await waitUntilHealthy(project, { consumer: 1 });
  });

  it('heals by itself after the rabbitmq container restarts, then the mysql container, under keyed load', async () => {
    const before = await snapshotServices();
    const users = await createUsers(pool as mysql.Pool, 2_000, 'Docker restarts');
    const load: KeyedLoad = startKeyedLoad({
      apis: [api],
      users,
      chain: LIFECYCLE,
      clientsPerApi: 4,
      thinkMs: 50,
      giveUpMs: 90_000,
    });
    const faults: Record<string, unknown> = {};
    try {
      for (const service of ['rabbitmq', 'mysql']) {
        await sleep(3_000);
        const faultAt = performance.now();
        await project.compose(['restart', service], { timeoutMs: 180_000 });
        const restartedAt = performance.now();
        // Healed once a write sent after the restart is answered 2xx: the producer published it,
        // the consumer applied it and replied.
        await waitUntil(
          `a 2xx to a write sent after ${service} restarted`,
          () => Number.isFinite(firstSuccessAfter(load.requests, restartedAt)),
          120_000,
          250,
        );
        faults[service] = {
          restart_s: Math.round((restartedAt - faultAt) / 100) / 10,
          healed_after_s: seconds(faultAt),
        };
      }
      await sleep(3_000);
    } finally {
      await load.stop();
    }
    const figures = measureKeyedLoad(load.requests);
    printFigures('docker: rabbitmq and mysql restarted', { ...faults, ...figures });

    expect(await auditKeyedLoad(pool as mysql.Pool, load.requests)).toEqual([]);
    // The restarts reached the clients: some attempts were refused or timed out, then retried.
    expect(figures.retries).toBeGreaterThan(0);
    // Healed in place: the same producer and consumer containers, never restarted.
    expect(await snapshotServices()).toBe(before);
  });

  it('stops producer and consumer under load within the grace period with exit code 0, losing no accepted command', async () => {
    const users = await createUsers(pool as mysql.Pool, 2_000, 'Docker stop');
    const asyncUsers = await createUsers(pool as mysql.Pool, 200, 'Docker stop async');
    const load = startKeyedLoad({
      apis: [api],
      users,
      chain: LIFECYCLE,
      clientsPerApi: 4,
      thinkMs: 20,
      giveUpMs: 120_000,
      // The producer goes away for a while: a client retries the same key until it is back.
      retryUnanswered: true,
    });
    // Asynchronous purchases sent at a steady pace across the stop: a 202 means accepted.
    const accepted: string[] = [];
    let sending = true;
    const asyncSender = (async () => {
      for (const userId of asyncUsers) {
        if (!sending) break;
        const response = await api
          .send('POST', '/api/v1/subscriptions', {
            json: { user_id: userId },
            headers: { prefer: RESPOND_ASYNC },
          })
          .catch(() => undefined);
        if (response?.status === 202) accepted.push((response.body as { id: string }).id);
        await sleep(25);
      }
    })();

    let stopSeconds: number;
    let stopped: ContainerState[];
    try {
      await sleep(2_000);
      const stopAt = performance.now();
      await project.compose(['stop', 'producer', 'consumer'], { timeoutMs: 120_000 });
      stopSeconds = seconds(stopAt);
      stopped = [
        ...(await containersOf(project, 'producer')),
        ...(await containersOf(project, 'consumer')),
      ];
      sending = false;
      await asyncSender;
      await project.compose(['start', 'consumer', 'producer'], { timeoutMs: 120_000 });
      await waitUntilReady();
      await sleep(2_000);
    } finally {
      sending = false;
      await load.stop();
    }
    const { commands } = await waitForAllCompleted(api, accepted, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const asyncStatuses = [...commands.values()].map((command) => command.response?.status);
    const figures = measureKeyedLoad(load.requests);
    printFigures('docker: stop of producer and consumer under load', {
      stop_s: stopSeconds,
      exit_codes: stopped.map((container) => `${container.name}=${container.exitCode}`),
      async_accepted: accepted.length,
      async_completed_201: asyncStatuses.filter((status) => status === 201).length,
      ...figures,
    });

    // Both stopped by themselves, not killed at the end of their 20 s grace period.
    expect(stopSeconds).toBeLessThan(20);
    expect(
      stopped.map((container) => [container.name, container.running, container.exitCode]),
    ).toEqual(stopped.map((container) => [container.name, false, 0]));
    expect(await auditKeyedLoad(pool as mysql.Pool, load.requests)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(0);
    expect(asyncStatuses).toEqual(accepted.map(() => 201));
    const [rows] = await (pool as mysql.Pool).query<mysql.RowDataPacket[]>(
      'SELECT user_id, COUNT(*) AS n FROM subscription WHERE user_id IN (?) GROUP BY user_id HAVING n > 1',
      [asyncUsers],
    );
    expect(rows).toEqual([]);
    // The commands read back are those accepted; a repeat read still answers each one.
    expect((await readCommand(api, accepted[0] as string)).status).toBe(200);
  });

  it('runs every service as an unprivileged user, and reports the size of each image', async () => {
    const users: Record<string, string[]> = {};
    for (const service of ['mysql', 'rabbitmq', 'consumer', 'producer']) {
      const [container] = await containersOf(project, service);
      if (!container) throw new Error(`no ${service} container`);
      users[service] = await serviceUids(project, container.id);
    }
    const imageUsers: Record<string, string> = {};
    const sizes: Record<string, string> = {};
    for (const target of ['producer', 'consumer', 'tools']) {
      const image = `${project.name}-${target}:latest`;
      const { stdout } = await project.docker([
        'image',
        'inspect',
        '--format',
        '{{.Config.User}} {{.Size}}',
        image,
      ]);
      const [user = '', size = '0'] = stdout.trim().split(' ');
      imageUsers[target] = user;
      sizes[image] = `${Math.round(Number(size) / 1e6)} MB`;
    }
    for (const base of ['mysql:8.4', 'rabbitmq:4.1-management', 'node:24-bookworm-slim']) {
      const { stdout } = await project.docker(['image', 'inspect', '--format', '{{.Size}}', base]);
      sizes[base] = `${Math.round(Number(stdout.trim()) / 1e6)} MB`;
    }
    printFigures('docker: users and image sizes', {
      process_uids: users,
      image_users: imageUsers,
      sizes,
    });

    for (const [service, uids] of Object.entries(users)) {
      expect({ service, root: uids.includes('0'), seen: uids.length > 0 }).toEqual({
        service,
        root: false,
        seen: true,
      });
    }
    // migrate runs the consumer's image, so it runs as that image's user too.
    expect(imageUsers).toEqual({ producer: 'node', consumer: 'node', tools: 'node' });
  });

  it('upgrades in place and keeps the data across down and up; down -v starts empty', async () => {
    const kept = await countSubscriptions();
    const [{ id: producerBefore } = { id: '' }] = await containersOf(project, 'producer');

    // A new version of the code, as after `git pull`.
    await appendFile(path.join(project.dir, 'producer/src/app.ts'), '\n// a later version\n');
    const upgradeAt = performance.now();
    const upgradeSince = new Date().toISOString();
    await project.compose(['up', '-d', '--build'], { timeoutMs: 600_000 });
    await waitUntilReady();
    const upgradeSeconds = seconds(upgradeAt);
    // What migrate said during the upgrade only: its container may be the earlier one, restarted.
    const [migrate] = await containersOf(project, 'migrate');
    const { stdout: migrateLog } = await project.docker([
      'logs',
      '--since',
      upgradeSince,
      migrate?.id ?? 'migrate',
    ]);
    const [{ id: producerAfter } = { id: '' }] = await containersOf(project, 'producer');
    const afterUpgrade = await countSubscriptions();

    const downUpAt = performance.now();
    await project.compose(['down'], { timeoutMs: 180_000 });
    await project.compose(['up', '-d'], { timeoutMs: 300_000 });
    await waitUntilReady();
    const downUpSeconds = seconds(downUpAt);
    const afterDownUp = await countSubscriptions();

    const wipeAt = performance.now();
    await project.compose(['down', '-v'], { timeoutMs: 180_000 });
    await pool?.end();
    pool = undefined;
    await project.compose(['up', '-d'], { timeoutMs: 300_000 });
    await waitUntilReady();
    const wipeSeconds = seconds(wipeAt);
    pool = mysql.createPool({
      host: '127.0.0.1',
      port: project.ports.mysql,
      user: 'root',
      password: project.defaults['MYSQL_ROOT_PASSWORD'] ?? '',
      database: 'subscriptions',
      connectionLimit: 2,
    });
    const afterWipe = await countSubscriptions();
    const { stdout: freshMigrateLog } = await project.compose(['logs', '--no-color', 'migrate']);
    printFigures('docker: upgrade, down/up, down -v', {
      subscriptions: {
        before: kept,
        after_upgrade: afterUpgrade,
        after_down_up: afterDownUp,
        after_down_v: afterWipe,
      },
      upgrade_s: upgradeSeconds,
      down_up_s: downUpSeconds,
      down_v_up_s: wipeSeconds,
    });

    expect(kept).toBeGreaterThan(0);
    expect(producerAfter).not.toBe(producerBefore);
    expect(migrateLog).toContain('subscriptions: schema up to date');
    expect(afterUpgrade).toBe(kept);
    expect(afterDownUp).toBe(kept);
    expect(afterWipe).toBe(0);
    expect(freshMigrateLog).toMatch(/subscriptions: applied 001-schema\.sql/);
  });
});
