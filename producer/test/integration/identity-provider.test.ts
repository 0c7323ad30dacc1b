import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RowDataPacket } from 'mysql2/promise';
import request from 'supertest';
import { signToken } from '@subscriptions/tools';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { releaseAll } from '../../../test-support/cleanup';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import {
  startIdentityProvider,
  type IdentityProvider,
} from '../../../test-support/identity/identity-provider';
import type { ProviderAlgorithm } from '../../../test-support/identity/key-set-server';
import {
  createFrontDoorApp,
  startInProcessProducer,
  type InProcessProducer,
} from '../../../test-support/producer';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
const COLLECTION = '/api/v1/subscriptions';

/**
 * The producer against a real OpenID Connect provider (oidc-provider in this process): its
 * client-credentials access tokens, found by discovery from AUTH_ISSUER, beside the HS256 secret.
 */
describe('access tokens of an OpenID Connect provider', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let provider: IdentityProvider;
  /** User ids from `sub` (the provider's client id). */
  let bySub: InProcessProducer;
  /** User ids from the `user_id` claim, for a provider whose `sub` is not one. */
  let byClaim: InProcessProducer;
  let alice: number;
  let bob: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    alice = await database.createUser('Alice');
    bob = await database.createUser('Bob');
    provider = await startIdentityProvider({
      clients: [
        { clientId: String(alice) },
        { clientId: String(bob) },
        { clientId: '1', admin: true },
        { clientId: 'billing-service', claims: { user_id: String(bob) } },
      ],
    });
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    const auth = {
      secret: SECRET,
      issuer: provider.issuer,
      audience: provider.audience,
      clockToleranceSeconds: 5,
    };
    const common = { amqpUrl: vhost.url, database: database.name };
    bySub = await startInProcessProducer({ ...common, auth });
    byClaim = await startInProcessProducer({
      ...common,
      auth: { ...auth, userIdClaim: 'user_id' },
    });
  });

  afterAll(async () => {
    await releaseAll([bySub?.stop(), byClaim?.stop(), consumer?.stop(), provider?.close()]);
    await releaseAll([vhost?.delete(), database?.drop()]);
  });

  async function subscriptionCount(): Promise<number> {
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription',
    );
    return Number(row?.['n']);
  }

  it.each<ProviderAlgorithm>(['RS256', 'PS256', 'ES256', 'EdDSA'])(
    "an access token signed %s is verified with the keys the issuer's discovery document names",
    async (alg) => {
      const token = await provider.issueToken(String(alice), { alg });
      const res = await request(bySub.app).get(COLLECTION).auth(token, { type: 'bearer' });
      expect(res.status).toBe(200);
    },
  );

  it("a provider's token purchases for the user its sub names, and gets 403 for another user, writing nothing", async () => {
    const token = await provider.issueToken(String(alice));
    const own = await request(bySub.app)
      .post(COLLECTION)
      .auth(token, { type: 'bearer' })
      .send({ user_id: alice })
      .expect(201);
    expect(own.body.user_id).toBe(alice);
    const before = await subscriptionCount();
    const theirs = await request(bySub.app)
      .post(COLLECTION)
      .auth(token, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(403);
    expect(theirs.body.code).toBe('forbidden');
    expect(await subscriptionCount()).toBe(before);
  });

  it('a token whose scope contains subscriptions:admin acts on any user: purchases for another and lists everyone', async () => {
    const admin = await provider.issueToken('1', { admin: true });
    const created = await request(bySub.app)
      .post(COLLECTION)
      .auth(admin, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(201);
    expect(created.body.user_id).toBe(bob);
    await request(bySub.app)
      .put(`${COLLECTION}/${created.body.id}/status`)
      .auth(admin, { type: 'bearer' })
      .send({ canceled: true })
      .expect(200);
    const all = await request(bySub.app)
      .get(`${COLLECTION}?limit=100`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    const owners = new Set(all.body.data.map((s: { user_id: number }) => s.user_id));
    expect(owners).toEqual(new Set([alice, bob]));
  });

  it("any other provider token acts only on its own subscriptions: its list is scoped to itself, another user's filter is 403 and another user's subscription 404", async () => {
    const bobs = await provider.issueToken(String(bob));
    const created = await request(bySub.app)
      .post(COLLECTION)
      .auth(bobs, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(201);
    const alices = await provider.issueToken(String(alice));
    const mine = await request(bySub.app)
      .get(COLLECTION)
      .auth(alices, { type: 'bearer' })
      .expect(200);
    expect(mine.body.data.length).toBeGreaterThan(0);
    expect(mine.body.data.every((s: { user_id: number }) => s.user_id === alice)).toBe(true);
    await request(bySub.app)
      .get(`${COLLECTION}?user_id=${bob}`)
      .auth(alices, { type: 'bearer' })
      .expect(403);
    await request(bySub.app)
      .put(`${COLLECTION}/${created.body.id}/status`)
      .auth(alices, { type: 'bearer' })
      .send({ canceled: true })
      .expect(404);
  });

  it("HS256 tokens of our own tools are accepted beside the provider's, carrying the configured iss and aud", async () => {
    const tools = await signToken({
      secret: SECRET,
      userId: alice,
      ttlSeconds: 60,
      issuer: provider.issuer,
      audience: provider.audience,
    });
    await request(bySub.app).get(COLLECTION).auth(tools, { type: 'bearer' }).expect(200);
    const withoutIssuer = await signToken({ secret: SECRET, userId: alice, ttlSeconds: 60 });
    await request(bySub.app).get(COLLECTION).auth(withoutIssuer, { type: 'bearer' }).expect(401);
  });

  it('with a user-id claim configured, a token whose sub is not a user id acts as the user its claim names', async () => {
    const token = await provider.issueToken('billing-service');
    const created = await request(byClaim.app)
      .post(COLLECTION)
      .auth(token, { type: 'bearer' })
      .send({ user_id: bob })
      .expect(201);
    expect(created.body.user_id).toBe(bob);
    await request(byClaim.app)
      .post(COLLECTION)
      .auth(token, { type: 'bearer' })
      .send({ user_id: alice })
      .expect(403);
    // Without the setting its `sub` is read, which names no user.
    const bySubject = await request(bySub.app).get(COLLECTION).auth(token, { type: 'bearer' });
    expect(bySubject.status).toBe(401);
    expect(bySubject.body.detail).toBe('the token\'s "sub" must be a user id');
  });

  it("a provider's token is refused with 401 where another audience or another issuer is configured", async () => {
    const token = await provider.issueToken(String(alice));
    const otherAudience = createFrontDoorApp({
      auth: { issuer: provider.issuer, audience: 'another-api', clockToleranceSeconds: 5 },
    });
    const otherIssuer = createFrontDoorApp({
      auth: {
        issuer: 'https://login.example.com',
        jwksUrl: `${provider.issuer}/jwks`,
        audience: provider.audience,
        clockToleranceSeconds: 5,
      },
    });
    for (const [{ app }, claim] of [
      [otherAudience, 'aud'],
      [otherIssuer, 'iss'],
    ] as const) {
      const res = await request(app).get(COLLECTION).auth(token, { type: 'bearer' });
      expect(res.status).toBe(401);
      expect(res.body.detail).toBe(`the token's "${claim}" claim is not acceptable`);
    }
  });
});
