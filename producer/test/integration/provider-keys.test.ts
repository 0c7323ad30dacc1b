import { afterAll, describe, expect, it } from '@jest/globals';
import { exportSPKI, SignJWT, type JWTPayload } from 'jose';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { signToken } from '@subscriptions/tools';
import { releaseAll } from '../../../test-support/cleanup';
import {
  generateSigningKey,
  startKeySetServer,
  type KeySetServer,
  type SigningKey,
} from '../../../test-support/identity/key-set-server';
import { createFrontDoorApp, type VerifierSettings } from '../../../test-support/producer';
import type { ProducerMetrics } from '../../src/metrics';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
const AUDIENCE = 'subscriptions-api';
const COLLECTION = '/api/v1/subscriptions';
const COOLDOWN_MS = 30_000;

const servers: KeySetServer[] = [];

afterAll(async () => {
  await releaseAll(servers.map((server) => server.close()));
});

/** A key set server of the test's own, with one published key. */
async function keySetWithKey(
  alg: SigningKey['alg'] = 'RS256',
): Promise<{ keySet: KeySetServer; key: SigningKey }> {
  const keySet = await startKeySetServer();
  servers.push(keySet);
  return { keySet, key: await keySet.addKey(alg) };
}

/**
 * The producer's front door (auth, then routes without broker or database) trusting `keySet`
 * beside the secret, on a clock the test moves: the key cache's cooldown and age pass at once.
 */
function frontDoorOf(
  keySet: KeySetServer,
  settings: Partial<VerifierSettings> = {},
  logger?: Logger,
) {
  let now = Date.now();
  const { app, metrics } = createFrontDoorApp({
    ...(logger && { logger }),
    auth: {
      secret: SECRET,
      issuer: keySet.issuer,
      audience: AUDIENCE,
      clockToleranceSeconds: 5,
      fetchTimeoutMs: 500,
      clock: () => now,
      ...settings,
    },
  });
  const list = (token: string) => request(app).get(COLLECTION).auth(token, { type: 'bearer' });
  return {
    app,
    metrics,
    list,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const claims = (sub: string, more: JWTPayload = {}): JWTPayload => ({
  sub,
  aud: AUDIENCE,
  ...more,
});

async function fetchesBy(metrics: ProducerMetrics, result: string): Promise<number> {
  const { values } = await metrics.keySetFetches.get();
  return values.find((value) => value.labels.result === result)?.value ?? 0;
}

/** Resolves once the key cache has made `count` good fetches in all: a refresh runs unawaited. */
async function fetchedOk(metrics: ProducerMetrics, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await fetchesBy(metrics, 'ok')) < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} good key-set fetches`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function expectUnavailable(res: request.Response): void {
  expect(res.status).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 503, code: 'auth_unavailable' });
  const retryAfter = Number(res.headers['retry-after']);
  expect(res.headers['retry-after']).toMatch(/^[0-9]+$/);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(COOLDOWN_MS / 1000);
  expect(res.headers['www-authenticate']).toBeUndefined();
}

describe("the identity provider's key set", () => {
  it('with AUTH_JWKS_URL the keys come from there, with no discovery document read', async () => {
    const { keySet, key } = await keySetWithKey('ES256');
    const { list } = frontDoorOf(keySet, { issuer: 'shop-idp', jwksUrl: keySet.jwksUrl });
    await list(await keySet.sign(key, claims('7', { iss: 'shop-idp' }))).expect(200);
    expect({ discovery: keySet.discoveryRequests, keySet: keySet.keySetRequests }).toEqual({
      discovery: 0,
      keySet: 1,
    });
  });

  it('is fetched once and cached: many tokens of known keys make no further fetch', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    const token = await keySet.sign(key, claims('7'));
    await Promise.all(Array.from({ length: 20 }, () => list(token).expect(200)));
    expect({ discovery: keySet.discoveryRequests, keySet: keySet.keySetRequests }).toEqual({
      discovery: 1,
      keySet: 1,
    });
  });

  it('a token whose kid is not in the cached key set makes one fetch of the key set; still unknown, it answers 401', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list, advance } = frontDoorOf(keySet);
    await list(await keySet.sign(key, claims('7'))).expect(200);
    advance(COOLDOWN_MS);
    const stranger = await generateSigningKey('ES256');
    const burst = await Promise.all(
      Array.from({ length: 100 }, (_, i) => keySet.sign(stranger, claims('7'), { kid: `k${i}` })),
    );
    const before = keySet.keySetRequests;
    const answers = await Promise.all(burst.map((token) => list(token)));
    expect(answers.map((res) => res.status)).toEqual(burst.map(() => 401));
    expect(answers[0]?.body.detail).toBe('the token is signed with an unknown key');
    console.log(
      `key-set fetches during a burst of ${burst.length} unknown kids: ${keySet.keySetRequests - before}`,
    );
    expect(keySet.keySetRequests - before).toBe(1);
  });

  it('unknown kids make at most one fetch of the key set per 30 s', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list, advance } = frontDoorOf(keySet);
    await list(await keySet.sign(key, claims('7'))).expect(200);
    const unknown = await keySet.sign(await generateSigningKey('ES256'), claims('7'));
    const fetchesAt = async (ms: number) => {
      advance(ms);
      const before = keySet.keySetRequests;
      await list(unknown).expect(401);
      return keySet.keySetRequests - before;
    };
    // Seconds after the last fetch: 1, 29, 30, 45, 60.
    expect(await fetchesAt(1_000)).toBe(0);
    expect(await fetchesAt(28_000)).toBe(0);
    expect(await fetchesAt(1_000)).toBe(1);
    expect(await fetchesAt(15_000)).toBe(0);
    expect(await fetchesAt(15_000)).toBe(1);
  });

  it('keys rotate without a restart: a newly published key verifies after one fetch, a retired one stops once the set is refreshed', async () => {
    const { keySet, key: old } = await keySetWithKey();
    const { list, advance, metrics } = frontDoorOf(keySet);
    const oldToken = await keySet.sign(old, claims('7'));
    await list(oldToken).expect(200);

    const before = keySet.keySetRequests;
    const next = await keySet.addKey('RS256');
    advance(COOLDOWN_MS);
    const nextToken = await keySet.sign(next, claims('7'));
    await Promise.all(Array.from({ length: 20 }, () => list(nextToken).expect(200)));
    await list(oldToken).expect(200);
    console.log(`key-set fetches during a rotation: ${keySet.keySetRequests - before}`);
    expect(keySet.keySetRequests - before).toBe(1);

    keySet.retireKey(old.kid);
    advance(10 * 60_000);
    // A cached key still answers at once; the stale set is refreshed behind it.
    await list(nextToken).expect(200);
    await fetchedOk(metrics, 3);
    await list(oldToken).expect(401);
    await list(nextToken).expect(200);
  });

  it.each([
    ['refuses connections', 'refuse', 'unreachable'],
    ['answers 503', 'unavailable', 'bad_status'],
    ['answers too slowly', 'slow', 'timeout'],
  ] as const)(
    'when the provider %s and no cached key fits the token: 503 auth_unavailable with Retry-After, never 401',
    async (_situation, behaviour, result) => {
      const { keySet, key } = await keySetWithKey();
      await keySet.behave(behaviour, { delayMs: 3_000 });
      const { list, metrics } = frontDoorOf(keySet);
      expectUnavailable(await list(await keySet.sign(key, claims('7'))));
      // Within the cooldown the answer comes at once, without another fetch.
      expectUnavailable(await list(await keySet.sign(key, claims('8'))));
      expect(await fetchesBy(metrics, result)).toBe(1);
    },
  );

  it('keys already cached keep working while the provider is away, however long; a token they do not fit answers 503', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list, advance, metrics } = frontDoorOf(keySet);
    const token = await keySet.sign(key, claims('7'));
    await list(token).expect(200);
    await keySet.behave('refuse');
    for (const hours of [1, 24, 24 * 7]) {
      advance(hours * 3_600_000);
      await Promise.all(Array.from({ length: 10 }, () => list(token).expect(200)));
    }
    const stranger = await keySet.sign(await generateSigningKey('ES256'), claims('7'));
    expectUnavailable(await list(stranger));
    // One refresh tried per cooldown, however many requests came.
    expect(await fetchesBy(metrics, 'unreachable')).toBe(3);
  });

  it('a provider that comes back is asked again after the cooldown, and its keys verify', async () => {
    const { keySet, key } = await keySetWithKey('EdDSA');
    await keySet.behave('refuse');
    const { list, advance } = frontDoorOf(keySet);
    const token = await keySet.sign(key, claims('7'));
    expectUnavailable(await list(token));
    await keySet.behave('serve');
    advance(COOLDOWN_MS);
    await list(token).expect(200);
  });
});

describe("a token's alg never selects a key of the other kind", () => {
  it("an HS256 token keyed with the provider's public key (as PEM or as JWK text) is refused with 401", async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    await list(await keySet.sign(key, claims('7'))).expect(200);
    const publicKey = await crypto.subtle.importKey(
      'jwk',
      key.jwk,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      true,
      ['verify'],
    );
    for (const material of [await exportSPKI(publicKey), JSON.stringify(key.jwk)]) {
      for (const header of [{ alg: 'HS256' }, { alg: 'HS256', kid: key.kid }]) {
        const forged = await new SignJWT(claims('1', { scope: ADMIN_SCOPE, iss: keySet.issuer }))
          .setProtectedHeader(header)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(material));
        const res = await list(forged).expect(401);
        expect(res.body.code).toBe('unauthorized');
      }
    }
  });

  it('an HS256 token that names a kid is refused with 401 even when signed with the secret: the secret has none, so the kid names another key', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    const signed = (header: Record<string, string>) =>
      new SignJWT(claims('7', { iss: keySet.issuer }))
        .setProtectedHeader({ alg: 'HS256', ...header })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(SECRET));
    await list(await signed({})).expect(200);
    await list(await signed({ kid: key.kid })).expect(401);
  });

  it("a provider's algorithm is never checked against the secret: an RS256 token naming a published kid but signed with another key is 401", async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    const impostor = await generateSigningKey('RS256');
    const res = await list(await keySet.sign(impostor, claims('1'), { kid: key.kid })).expect(401);
    expect(res.body.detail).toBe('the token is malformed or its signature is not valid');
  });

  it('alg none is refused with 401, whatever kid it names and whichever keys are configured', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const payload = part(claims('1', { scope: ADMIN_SCOPE, iss: keySet.issuer, exp: 4e9 }));
    for (const header of [{ alg: 'none' }, { alg: 'none', kid: key.kid }, { alg: 'NONE' }]) {
      await list(`${part(header)}.${payload}.`).expect(401);
    }
  });

  it('an HS256 token is refused with 401 where only a provider is configured', async () => {
    const { keySet } = await keySetWithKey();
    const { list } = frontDoorOf(keySet, { secret: undefined });
    const hs256 = await signToken({
      secret: SECRET,
      userId: 7,
      ttlSeconds: 60,
      issuer: keySet.issuer,
      audience: AUDIENCE,
    });
    const res = await list(hs256).expect(401);
    expect(res.body.detail).toBe('the token\'s "alg" is not accepted');
  });

  it('key material a token carries (jku, x5u, an embedded jwk) is never fetched nor used', async () => {
    const { keySet } = await keySetWithKey();
    const { keySet: attacker, key: attackers } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    const token = await keySet.sign(attackers, claims('1', { scope: ADMIN_SCOPE }), {
      jku: attacker.jwksUrl,
      x5u: `${attacker.issuer}/certificate.pem`,
      jwk: attackers.jwk,
    });
    await list(token).expect(401);
    expect(attacker.requests).toBe(0);
  });
});

describe("the claims of a provider's token", () => {
  it('exp is required and an expired token refused; nbf is honoured, with the clock tolerance', async () => {
    const { keySet, key } = await keySetWithKey('ES256');
    const { list } = frontDoorOf(keySet);
    const now = Math.floor(Date.now() / 1000);
    const token = (more: JWTPayload) => keySet.sign(key, claims('7', more));
    await list(await token({ exp: undefined })).expect(401);
    const expired = await list(await token({ exp: now - 60 })).expect(401);
    expect(expired.body.detail).toBe('the token has expired');
    const early = await list(await token({ nbf: now + 60 })).expect(401);
    expect(early.body.detail).toBe('the token\'s "nbf" claim is not acceptable');
    await list(await token({ nbf: now + 3 })).expect(200);
  });

  it('iss and aud must be those configured', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    await list(await keySet.sign(key, claims('7', { iss: 'https://elsewhere.example' }))).expect(
      401,
    );
    await list(await keySet.sign(key, claims('7', { aud: 'another-api' }))).expect(401);
    await list(await keySet.sign(key, claims('7', { aud: ['another-api', AUDIENCE] }))).expect(200);
  });

  it('sub is the user id as a decimal string', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list } = frontDoorOf(keySet);
    for (const sub of ['auth0|5f7c8ec7', '0', '007', '-1', '9007199254740993', '1.5']) {
      const res = await list(await keySet.sign(key, claims(sub))).expect(401);
      expect(res.body.detail).toBe('the token\'s "sub" must be a user id');
    }
    await list(await keySet.sign(key, claims('42'))).expect(200);
  });

  it('the admin scope may come as scope (space-separated) or scp (a list): only then is another user reachable', async () => {
    const { keySet, key } = await keySetWithKey();
    const { list, app } = frontDoorOf(keySet);
    const others = (token: string) =>
      request(app).get(`${COLLECTION}?user_id=99`).auth(token, { type: 'bearer' });
    for (const more of [
      { scope: `openid ${ADMIN_SCOPE} profile` },
      { scp: ['profile', ADMIN_SCOPE] },
      { scp: ADMIN_SCOPE },
    ]) {
      await others(await keySet.sign(key, claims('7', more))).expect(200);
    }
    for (const more of [
      {},
      { scope: `${ADMIN_SCOPE}-readonly` },
      { scp: [`openid,${ADMIN_SCOPE}`] },
      { roles: [ADMIN_SCOPE] },
    ]) {
      await others(await keySet.sign(key, claims('7', more))).expect(403);
    }
    await list(await keySet.sign(key, claims('7'))).expect(200);
  });

  it('a configured user-id claim may hold the id as a decimal string or a number', async () => {
    const { keySet, key } = await keySetWithKey();
    const claim = 'https://subscriptions.example.com/user_id';
    const { list } = frontDoorOf(keySet, { userIdClaim: claim });
    await list(await keySet.sign(key, claims('auth0|5f7c8ec7', { [claim]: '42' }))).expect(200);
    await list(await keySet.sign(key, claims('auth0|5f7c8ec7', { [claim]: 42 }))).expect(200);
    const res = await list(await keySet.sign(key, claims('42'))).expect(401);
    expect(res.body.detail).toBe(`the token's "${claim}" must be a user id`);
  });
});

describe('what auth leaves behind', () => {
  it('verifications are counted by outcome, reason and kind, and key-set fetches by result', async () => {
    const { keySet, key } = await keySetWithKey();
    const { app, list } = frontDoorOf(keySet);
    await list(await keySet.sign(key, claims('7'))).expect(200);
    await list(await keySet.sign(key, claims('7', { exp: 1 }))).expect(401);
    await list(
      await signToken({
        secret: SECRET,
        userId: 7,
        ttlSeconds: 60,
        issuer: keySet.issuer,
        audience: AUDIENCE,
      }),
    ).expect(200);
    await request(app).get(COLLECTION).expect(401);
    await keySet.behave('refuse');
    const text = (await request(app).get('/metrics').expect(200)).text;
    for (const line of [
      'subscriptions_auth_verifications_total{outcome="accepted",reason="valid",kind="provider"} 1',
      'subscriptions_auth_verifications_total{outcome="refused",reason="expired",kind="provider"} 1',
      'subscriptions_auth_verifications_total{outcome="accepted",reason="valid",kind="secret"} 1',
      'subscriptions_auth_verifications_total{outcome="refused",reason="missing",kind="none"} 1',
      'subscriptions_auth_key_set_fetches_total{result="ok"} 1',
    ]) {
      expect(text).toContain(line);
    }
  });

  it('no log line carries a token, whatever its outcome, at any log level', async () => {
    const { keySet, key } = await keySetWithKey();
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) });
    const { list, app, advance } = frontDoorOf(keySet, {}, logger);
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      await keySet.sign(key, claims('7')),
      await keySet.sign(key, claims('7', { exp: now - 60 })),
      await keySet.sign(key, claims('alice')),
      await signToken({ secret: SECRET, userId: 7, ttlSeconds: 60, issuer: keySet.issuer }),
      await keySet.sign(await generateSigningKey('ES256'), claims('7')),
    ];
    for (const token of tokens) await list(token);
    await keySet.behave('unavailable');
    advance(COOLDOWN_MS);
    const unavailable = await keySet.sign(await generateSigningKey('ES256'), claims('7'));
    tokens.push(unavailable);
    expectUnavailable(await list(unavailable));
    await request(app).get(COLLECTION).set('Authorization', `Bearer ${tokens[0]}x`);
    expect(lines.length).toBeGreaterThan(tokens.length);
    for (const token of tokens) {
      const signature = token.split('.')[2] ?? token;
      expect(lines.filter((line) => line.includes(signature))).toEqual([]);
      expect(lines.filter((line) => line.includes(token.split('.')[1] ?? token))).toEqual([]);
    }
  });
});
