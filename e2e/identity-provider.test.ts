import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { releaseAll } from '../test-support/cleanup';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import {
  startKeySetServer,
  type KeySetServer,
  type SigningKey,
} from '../test-support/identity/key-set-server';
import { listEventTypes } from '../test-support/outcomes/rows';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

const run = promisify(execFile);
const TOOLS = path.resolve(__dirname, '../tools/dist/main.js');
const PRODUCER = path.resolve(__dirname, '../producer/dist/main.js');
const AUDIENCE = 'subscriptions-api';

/**
 * The built producer with tokens from an identity provider only (no secret): the provider is a
 * local key-set server that serves discovery and keys, and can go away.
 */
describe('the producer with an identity provider', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let keySet: KeySetServer;
  let key: SigningKey;
  let consumer: ServiceProcess | undefined;
  let producer: Producer | undefined;
  let serving: Producer | undefined;
  let both: Producer | undefined;

  beforeAll(async () => {
    [vhost, database, keySet] = await Promise.all([
      createTestVhost(),
      createTestDatabase(),
      startKeySetServer(),
    ]);
    key = await keySet.addKey('ES256');
    // Away before the producer starts.
    await keySet.behave('refuse');
    consumer = await startConsumer({ amqpUrl: vhost.url, database: database.name });
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: database.name,
      env: {
        AUTH_DISABLED: 'false',
        AUTH_ISSUER: keySet.issuer,
        AUTH_AUDIENCE: AUDIENCE,
        RATE_LIMIT_PER_MINUTE: '0',
      },
    });
  });

  afterAll(async () => {
    await releaseAll([
      producer?.stop(),
      serving?.stop(),
      both?.stop(),
      consumer?.stop(),
      keySet?.close(),
    ]);
    await releaseAll([vhost?.delete(), database?.drop()]);
  });

  it('a provider that is down does not stop the producer from starting nor make it unready; health, metrics and docs need no token', async () => {
    await producer!.waitForMessage('listening');
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/openapi.json', '/api/docs']) {
      const res = await fetch(`${producer!.baseUrl}${path}`);
      await res.arrayBuffer();
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
    const warned = await producer!.waitForLine(
      (line) => typeof line.msg === 'string' && line.msg.startsWith('cannot fetch'),
      'the warning that the key set cannot be fetched',
    );
    expect(warned).toMatchObject({
      result: 'unreachable',
      url: expect.stringContaining('/.well-known/'),
    });
  });

  it("a provider's token answers 503 auth_unavailable while its keys cannot be fetched, and the readiness stays 200", async () => {
    const token = await keySet.sign(key, { sub: '1', aud: AUDIENCE });
    const res = await fetch(`${producer!.baseUrl}/api/v1/subscriptions`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('retry-after')).toMatch(/^[1-9][0-9]?$/);
    expect(((await res.json()) as { code: string }).code).toBe('auth_unavailable');
    expect((await fetch(`${producer!.baseUrl}/readyz`)).status).toBe(200);
  });

  it("npm run lifecycle walks a subscription through with the provider's admin token from BEARER_TOKEN, no secret set", async () => {
    await keySet.behave('serve');
    // A producer of its own, started while the provider serves: the first one waits out its
    // cooldown before it asks again.
    serving = await startProducer({
      amqpUrl: vhost.url,
      database: database.name,
      env: { AUTH_DISABLED: 'false', AUTH_ISSUER: keySet.issuer, AUTH_AUDIENCE: AUDIENCE },
    });
    const admin = await keySet.sign(key, { sub: '1', aud: AUDIENCE, scope: ADMIN_SCOPE });
    const stdout = await runLifecycle(serving.baseUrl, { BEARER_TOKEN: admin });
    expect(stdout).toContain('(with the token in BEARER_TOKEN)');
  });

  it("with a secret beside the provider, npm run lifecycle signs its own HS256 admin token, and the provider's tokens still pass", async () => {
    await keySet.behave('serve');
    const SECRET = 'an-e2e-secret-that-is-longer-than-32-bytes';
    both = await startProducer({
      amqpUrl: vhost.url,
      database: database.name,
      env: {
        AUTH_DISABLED: 'false',
        AUTH_JWT_SECRET: SECRET,
        AUTH_ISSUER: keySet.issuer,
        AUTH_AUDIENCE: AUDIENCE,
      },
    });
    const stdout = await runLifecycle(both.baseUrl, {
      AUTH_JWT_SECRET: SECRET,
      AUTH_ISSUER: keySet.issuer,
      AUTH_AUDIENCE: AUDIENCE,
    });
    expect(stdout).toContain('(with an admin token signed with AUTH_JWT_SECRET)');
    const token = await keySet.sign(key, { sub: '1', aud: AUDIENCE });
    const res = await fetch(`${both.baseUrl}/api/v1/subscriptions`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  });

  /** Runs what `npm run lifecycle` runs, built, for a new user; checks it passed and returns its output. */
  async function runLifecycle(baseUrl: string, env: Record<string, string>): Promise<string> {
    const userId = await database.createUser('Provider');
    const { stdout } = await run(process.execPath, [TOOLS, 'lifecycle'], {
      env: {
        PATH: process.env['PATH'] ?? '',
        BASE_URL: baseUrl,
        LIFECYCLE_USER_ID: String(userId),
        ...env,
      },
      cwd: path.dirname(TOOLS),
      timeout: 30_000,
    });
    expect(stdout).toContain('Lifecycle passed');
    const id = Number(/"id": (\d+)/.exec(stdout)?.[1]);
    expect(await listEventTypes(database.pool, id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
      'SUBSCRIPTION_CANCELED',
    ]);
    return stdout;
  }
});

describe('the producer refuses auth settings that cannot work, before it connects to anything', () => {
  /** Runs the built producer away from any .env; resolves with its exit code and stderr. */
  async function startWith(env: Record<string, string>) {
    try {
      await run(process.execPath, [PRODUCER], {
        env: { PATH: process.env['PATH'] ?? '', ...env },
        cwd: tmpdir(),
        timeout: 10_000,
      });
      return { code: 0, stderr: '' };
    } catch (error) {
      const failed = error as { code?: number; stderr?: string };
      return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
    }
  }

  it.each([
    [
      'an issuer URL without an audience',
      { AUTH_ISSUER: 'https://login.example.com/realms/shop' },
      ['producer: AUTH_AUDIENCE: required when keys come from an identity provider'],
    ],
    [
      'a key set URL without an issuer or an audience',
      { AUTH_JWKS_URL: 'https://login.example.com/keys' },
      ['producer: AUTH_ISSUER: required with AUTH_JWKS_URL', 'producer: AUTH_AUDIENCE: required'],
    ],
    [
      'neither a secret, an identity provider nor AUTH_DISABLED=true',
      {},
      [
        'producer: AUTH_JWT_SECRET: required: set a secret of at least 32 bytes, or an identity provider',
      ],
    ],
  ])('%s: exit 1 with one line per variable', async (_case, env, lines) => {
    const { code, stderr } = await startWith(env);
    expect(code).toBe(1);
    const printed = stderr.trim().split('\n');
    expect(printed).toHaveLength(lines.length);
    lines.forEach((line, index) => expect(printed[index]).toContain(line));
  });
});
