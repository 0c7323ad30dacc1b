import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { RowDataPacket } from 'mysql2/promise';
import request from 'supertest';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { signToken } from '@subscriptions/tools';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { createFrontDoorApp, startInProcessProducer } from '../../../test-support/producer';
import { type createApp } from '../../src/app';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
const secretKey = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** A token with any header and claims, signed with the test secret unless told otherwise. */
async function craft(
  claims: JWTPayload,
  options: { alg?: string; key?: Parameters<SignJWT['sign']>[0] } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .sign(options.key ?? secretKey);
}

/** RFC 6750: `error_description` is a quoted-string without `"` or `\`, printable ASCII. */
const INVALID_TOKEN_CHALLENGE =
  /^Bearer realm="subscriptions", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/;

function unsigned(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

describe('authentication and ownership', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let close: () => Promise<void>;
  let app: ReturnType<typeof createApp>;
  let alice: number;
  let bob: number;
  let aliceToken: string;
  let bobToken: string;
  let adminToken: string;
  let bobsSubscription: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    const producer = await startInProcessProducer({
      amqpUrl: vhost.url,
      database: database.name,
      auth: { secret: SECRET, clockToleranceSeconds: 5 },
    });
    app = producer.app;
    close = producer.stop;
    alice = await database.createUser('Alice');
    bob = await database.createUser('Bob');
    const sign = (userId: number, admin = false) =>
      signToken({ secret: SECRET, userId, admin, ttlSeconds: 600 });
    [aliceToken, bobToken, adminToken] = await Promise.all([sign(alice), sign(bob), sign(1, true)]);
    const created = await request(app)
      .post('/api/v1/subscriptions')
      .auth(bobToken, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(201);
    bobsSubscription = created.body.id;
  });

  afterAll(async () => {
    await close?.();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  async function counts() {
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT (SELECT COUNT(*) FROM subscription) AS subscriptions, (SELECT COUNT(*) FROM event_history) AS events',
    );
    return { subscriptions: Number(row?.['subscriptions']), events: Number(row?.['events']) };
  }

  describe('a request without a valid token is refused with 401 and writes nothing', () => {
    const cases: [string, () => Promise<string | undefined>][] = [
      ['no Authorization header', async () => undefined],
      ['a Basic credential', async () => 'Basic YWxpY2U6c2VjcmV0'],
      ['a bearer that is not a JWT', async () => 'Bearer not-a-token'],
      ['a bearer with an empty token', async () => 'Bearer '],
      [
        'a wrong signature',
        async () =>
          `Bearer ${await craft({ sub: '2', exp: now() + 60 }, { key: new TextEncoder().encode('another-secret-of-more-than-32-bytes!!') })}`,
      ],
      [
        'alg none',
        async () => `Bearer ${unsigned({ sub: '1', exp: now() + 60, scope: ADMIN_SCOPE })}`,
      ],
      [
        'HS512 with the right secret',
        async () => `Bearer ${await craft({ sub: '2', exp: now() + 60 }, { alg: 'HS512' })}`,
      ],
      [
        'RS256 (another algorithm family)',
        async () => {
          const { privateKey } = await generateKeyPair('RS256');
          return `Bearer ${await craft({ sub: '2', exp: now() + 60 }, { alg: 'RS256', key: privateKey })}`;
        },
      ],
      ['an expired token', async () => `Bearer ${await craft({ sub: '2', exp: now() - 60 })}`],
      [
        'a token not yet valid',
        async () => `Bearer ${await craft({ sub: '2', exp: now() + 600, nbf: now() + 300 })}`,
      ],
      ['a token without exp', async () => `Bearer ${await craft({ sub: '2' })}`],
      ['a token without sub', async () => `Bearer ${await craft({ exp: now() + 60 })}`],
      ['a non-numeric sub', async () => `Bearer ${await craft({ sub: 'alice', exp: now() + 60 })}`],
      ['a sub of 0', async () => `Bearer ${await craft({ sub: '0', exp: now() + 60 })}`],
      [
        'a sub past 2^53',
        async () => `Bearer ${await craft({ sub: '9007199254740993', exp: now() + 60 })}`,
      ],
    ];

    it.each(cases)('%s', async (_name, header) => {
      const authorization = await header();
      const before = await counts();
      const calls = [
        request(app).post('/api/v1/subscriptions').send({ user_id: 2 }),
        request(app)
          .put(`/api/v1/subscriptions/${bobsSubscription}/status`)
          .send({ canceled: true }),
        request(app).get(`/api/v1/subscriptions/${bobsSubscription}`),
        request(app).get(`/api/v1/subscriptions/${bobsSubscription}/history`),
        request(app).get('/api/v1/subscriptions'),
      ];
      for (const call of calls) {
        const res = await (authorization ? call.set('Authorization', authorization) : call);
        expect(res.status).toBe(401);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body.code).toBe('unauthorized');
        expect(res.headers['www-authenticate']).toMatch(
          authorization ? INVALID_TOKEN_CHALLENGE : /^Bearer realm="subscriptions"$/,
        );
      }
      expect(await counts()).toEqual(before);
    });
  });

  it('a refused claim is named in quotes in the problem, and without them in the challenge', async () => {
    const early = await craft({ sub: '2', exp: now() + 600, nbf: now() + 300 });
    const res = await request(app)
      .get('/api/v1/subscriptions')
      .auth(early, { type: 'bearer' })
      .expect(401);
    expect(res.body.detail).toBe('the token\'s "nbf" claim is not acceptable');
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="subscriptions", error="invalid_token", ' +
        "error_description=\"the token's 'nbf' claim is not acceptable\"",
    );
  });

  it('health, readiness, metrics and the docs need no token', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/openapi.json', '/api/docs']) {
      expect((await request(app).get(path)).status).toBe(200);
    }
  });

  it('a plain token purchases for its own user, and gets 403 for another user, writing nothing', async () => {
    await request(app)
      .post('/api/v1/subscriptions')
      .auth(aliceToken, { type: 'bearer' })
      .send({ user_id: alice })
      .expect(201);
    const before = await counts();
    const res = await request(app)
      .post('/api/v1/subscriptions')
      .auth(aliceToken, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(403);
    expect(res.body.code).toBe('forbidden');
    expect(await counts()).toEqual(before);
  });

  it("another user's subscription answers 404 to cancel, restart and every read, and does not change", async () => {
    const before = await counts();
    const as = (call: request.Test) => call.auth(aliceToken, { type: 'bearer' });
    const path = `/api/v1/subscriptions/${bobsSubscription}`;
    for (const res of [
      await as(request(app).put(`${path}/status`).send({ canceled: true })),
      await as(request(app).put(`${path}/status`).send({ restarted: true })),
      await as(request(app).get(path)),
      await as(request(app).get(`${path}/history`)),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('subscription_not_found');
    }
    expect(await counts()).toEqual(before);
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT status_id, version FROM subscription WHERE id = ?',
      [bobsSubscription],
    );
    expect(row).toEqual({ status_id: 1, version: 0 });
  });

  it("another user's command answers 404, as an unknown one would; its sender and an admin read it", async () => {
    const accepted = await request(app)
      .post('/api/v1/subscriptions')
      .auth(bobToken, { type: 'bearer' })
      .set('Prefer', 'respond-async')
      .send({ user_id: bob })
      .expect(202);
    const location = String(accepted.headers['location']);
    const read = (token: string) => request(app).get(location).auth(token, { type: 'bearer' });
    const theirs = await read(aliceToken).expect(404);
    expect(theirs.body.code).toBe('command_not_found');
    const forged = `${location.slice(0, location.lastIndexOf('.'))}.${'A'.repeat(22)}`;
    const unknown = await request(app).get(forged).auth(aliceToken, { type: 'bearer' }).expect(404);
    expect({ ...unknown.body, request_id: undefined, detail: undefined }).toEqual({
      ...theirs.body,
      request_id: undefined,
      detail: undefined,
    });
    for (const token of [bobToken, adminToken]) {
      const own = await read(token).expect(200);
      expect(own.body).toEqual(expect.objectContaining({ id: accepted.body.id, type: 'purchase' }));
    }
    // Without a token there is no caller to own it.
    await request(app).get(location).expect(401);
  });

  it('a plain token changes and reads its own subscription', async () => {
    const as = (call: request.Test) => call.auth(bobToken, { type: 'bearer' });
    const { body } = await as(
      request(app).post('/api/v1/subscriptions').send({ user_id: bob }),
    ).expect(201);
    await as(
      request(app).put(`/api/v1/subscriptions/${body.id}/status`).send({ canceled: true }),
    ).expect(200);
    await as(
      request(app).put(`/api/v1/subscriptions/${body.id}/status`).send({ restarted: true }),
    ).expect(200);
    await as(request(app).get(`/api/v1/subscriptions/${body.id}`)).expect(200);
    const history = await as(request(app).get(`/api/v1/subscriptions/${body.id}/history`)).expect(
      200,
    );
    expect(history.body.data).toHaveLength(3);
  });

  it('a plain token lists only its own subscriptions, and a filter naming another user is 403', async () => {
    const mine = await request(app)
      .get('/api/v1/subscriptions')
      .auth(aliceToken, { type: 'bearer' })
      .expect(200);
    expect(mine.body.data.length).toBeGreaterThan(0);
    expect(mine.body.data.every((s: { user_id: number }) => s.user_id === alice)).toBe(true);
    await request(app)
      .get(`/api/v1/subscriptions?user_id=${alice}`)
      .auth(aliceToken, { type: 'bearer' })
      .expect(200);
    const theirs = await request(app)
      .get(`/api/v1/subscriptions?user_id=${bob}`)
      .auth(aliceToken, { type: 'bearer' })
      .expect(403);
    expect(theirs.body.code).toBe('forbidden');
  });

  it('an admin token acts on any user: purchase, cancel, read and list everyone', async () => {
    const as = (call: request.Test) => call.auth(adminToken, { type: 'bearer' });
    const { body } = await as(
      request(app).post('/api/v1/subscriptions').send({ user_id: alice }),
    ).expect(201);
    expect(body.user_id).toBe(alice);
    await as(
      request(app).put(`/api/v1/subscriptions/${bobsSubscription}/status`).send({ canceled: true }),
    ).expect(200);
    await as(request(app).get(`/api/v1/subscriptions/${bobsSubscription}/history`)).expect(200);
    const all = await as(request(app).get('/api/v1/subscriptions?limit=100')).expect(200);
    const owners = new Set(all.body.data.map((s: { user_id: number }) => s.user_id));
    expect(owners).toEqual(new Set([alice, bob]));
  });

  it('Idempotency-Keys are scoped per user: the same key from two users makes two subscriptions', async () => {
    const key = `shared-${Date.now()}`;
    const a = await request(app)
      .post('/api/v1/subscriptions')
      .auth(aliceToken, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send({ user_id: alice })
      .expect(201);
    const b = await request(app)
      .post('/api/v1/subscriptions')
      .auth(bobToken, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send({ user_id: bob })
      .expect(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(a.body.id).not.toBe(b.body.id);
  });
});

describe('authentication with issuer and audience, and the rate limit', () => {
  const options = {
    secret: SECRET,
    issuer: 'https://issuer.test',
    audience: 'subscriptions-api',
    clockToleranceSeconds: 0,
  };
  const { app } = createFrontDoorApp({ auth: options, rateLimitPerMinute: 3 });

  it('refuses a token without the configured issuer or audience', async () => {
    const noIssuer = await signToken({
      secret: SECRET,
      userId: 5,
      ttlSeconds: 60,
      audience: options.audience,
    });
    const noAudience = await signToken({
      secret: SECRET,
      userId: 5,
      ttlSeconds: 60,
      issuer: options.issuer,
    });
    for (const token of [noIssuer, noAudience]) {
      const res = await request(app).get('/api/v1/subscriptions').auth(token, { type: 'bearer' });
      expect(res.status).toBe(401);
    }
  });

  it('answers 429 with RateLimit headers past the limit, per subject', async () => {
    const sign = (userId: number) =>
      signToken({
        secret: SECRET,
        userId,
        ttlSeconds: 60,
        issuer: options.issuer,
        audience: options.audience,
      });
    const [six, seven] = await Promise.all([sign(6), sign(7)]);
    const list = (token: string) =>
      request(app).get('/api/v1/subscriptions').auth(token, { type: 'bearer' });
    for (let i = 0; i < 3; i += 1) {
      const res = await list(six).expect(200);
      expect(res.headers['ratelimit-policy']).toMatch(/q=3/);
    }
    const limited = await list(six).expect(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(limited.headers['ratelimit']).toMatch(/r=0/);
    await list(seven).expect(200);
  });

  it('Retry-After on a 429 is what is left of the window, not the whole window', async () => {
    const token = await signToken({
      secret: SECRET,
      userId: 8,
      ttlSeconds: 600,
      issuer: options.issuer,
      audience: options.audience,
    });
    const list = () => request(app).get('/api/v1/subscriptions').auth(token, { type: 'bearer' });
    await list().expect(200);
    // The window opened during the first request; it closes 60 s later at the latest.
    const windowEnd = Date.now() + 60_000;
    await list().expect(200);
    await list().expect(200);
    // The fourth request comes 45 s later by the limiter's clock, so no test has to wait.
    const later = Date.now() + 45_000;
    const clock = jest.spyOn(Date, 'now').mockReturnValue(later);
    try {
      const limited = await list().expect(429);
      const retryAfter = Number(limited.headers['retry-after']);
      expect(limited.headers['retry-after']).toMatch(/^[0-9]+$/);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil((windowEnd - later) / 1000));
      expect(limited.headers['ratelimit']).toMatch(new RegExp(`; r=0; t=${retryAfter}$`));
    } finally {
      clock.mockRestore();
    }
  });
});
