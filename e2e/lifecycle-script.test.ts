import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import { listEventTypes, listSubscriptionIds } from '../test-support/outcomes/rows';
import { releaseAll } from '../test-support/cleanup';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

const run = promisify(execFile);
const TOOLS = path.resolve(__dirname, '../tools/dist/main.js');

/** Runs what `npm run lifecycle` runs, built; resolves with its exit code and output. */
async function runLifecycle(env: Record<string, string>) {
  try {
    const { stdout } = await run(process.execPath, [TOOLS, 'lifecycle'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      cwd: path.dirname(TOOLS),
      timeout: 30_000,
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '' };
  }
}

describe('npm run lifecycle', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: ServiceProcess | undefined;
  let producer: Producer | undefined;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startConsumer({ amqpUrl: vhost.url, database: database.name });
    producer = await startProducer({ amqpUrl: vhost.url, database: database.name });
  });

  afterAll(async () => {
    await releaseAll([producer?.stop(), consumer?.stop()]);
    await releaseAll([vhost?.delete(), database?.drop()]);
  });

  it('walks a subscription through its lifecycle, prints every answer and passes', async () => {
    const userId = await database.createUser('Lifecycle');
    const result = await runLifecycle({
      BASE_URL: producer!.baseUrl,
      LIFECYCLE_USER_ID: String(userId),
    });
    expect(result.stdout).toContain('Lifecycle passed');
    expect(result.code).toBe(0);
    for (const line of [
      '< 201 Created',
      '< 200 OK',
      '< 409 Conflict',
      'SUBSCRIPTION_RESTARTED',
      '> Prefer: respond-async',
      '< 202 Accepted',
      '"state": "completed"',
      'completed: 201, the subscription was created',
    ]) {
      expect(result.stdout).toContain(line);
    }
    const id = Number(/"id": (\d+)/.exec(result.stdout)?.[1]);
    expect(await listEventTypes(database.pool, id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
      'SUBSCRIPTION_CANCELED',
    ]);
    // The asynchronous purchase made a second subscription for the same user.
    expect(await listSubscriptionIds(database.pool, userId)).toEqual([id, expect.any(Number)]);
  });

  it('exits non-zero and says why when an answer differs from the contract', async () => {
    const result = await runLifecycle({
      BASE_URL: producer!.baseUrl,
      LIFECYCLE_USER_ID: '987654321',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('status is 422, expected 201');
  });
});
