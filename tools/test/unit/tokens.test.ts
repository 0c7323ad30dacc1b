import { describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { parseTtl, signToken } from '../../src/tokens';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
const key = new TextEncoder().encode(SECRET);

describe('signToken', () => {
  it('signs an HS256 token whose sub is the user id and whose exp is ttl seconds away', async () => {
    const token = await signToken({ secret: SECRET, userId: 42, ttlSeconds: 900 });
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload.sub).toBe('42');
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload).not.toHaveProperty('scope');
  });

  it('grants the admin scope, and sets iss and aud only when given', async () => {
    const admin = await signToken({ secret: SECRET, userId: 1, admin: true, ttlSeconds: 60 });
    expect((await jwtVerify(admin, key)).payload).toMatchObject({ scope: ADMIN_SCOPE });
    expect((await jwtVerify(admin, key)).payload).not.toHaveProperty('iss');

    const scoped = await signToken({
      secret: SECRET,
      userId: 1,
      ttlSeconds: 60,
      issuer: 'https://issuer.example',
      audience: 'subscriptions',
    });
    const { payload } = await jwtVerify(scoped, key, {
      issuer: 'https://issuer.example',
      audience: 'subscriptions',
    });
    expect(payload.sub).toBe('1');
  });
});

describe('parseTtl', () => {
  it.each([
    ['45', 45],
    ['45s', 45],
    ['30m', 1800],
    ['1h', 3600],
    ['2d', 172_800],
  ])('reads %s as %d seconds', (text, seconds) => {
    expect(parseTtl(text)).toBe(seconds);
  });

  it.each(['', '0', '0h', '-5m', '1.5h', '1w', '1h30m', '12345678'])('refuses "%s"', (text) => {
    expect(parseTtl(text)).toBeNull();
  });
});
