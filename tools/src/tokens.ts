import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { SignJWT } from 'jose';

export interface TokenRequest {
  secret: string;
  userId: number;
  admin?: boolean;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  issuer?: string | undefined;
  audience?: string | undefined;
}

/** An HS256 bearer token the producer accepts: `sub` is the user id, `scope` may grant admin. */
export async function signToken(request: TokenRequest): Promise<string> {
  const { secret, userId, admin = false, ttlSeconds, issuer, audience } = request;
  let jwt = new SignJWT({ ...(admin && { scope: ADMIN_SCOPE }) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(userId))
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`);
  if (issuer) jwt = jwt.setIssuer(issuer);
  if (audience) jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** Reads `1h`, `30m`, `45s`, `2d` or a bare number of seconds. */
export function parseTtl(text: string): number | null {
  const match = /^([1-9][0-9]{0,6})([smhd]?)$/.exec(text);
  if (!match) return null;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}
