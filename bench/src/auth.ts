import { signToken } from '@subscriptions/tools';
import type { AuthSettings } from './options';

/** Admin of user 1 (the seeded Admin), so every purchase is allowed whoever it is for. */
const ADMIN_USER_ID = 1;

/** The Authorization header for a stack with auth on; none without a token or a secret. */
export async function authorizationHeaders(
  auth: AuthSettings | undefined,
  ttlSeconds: number,
): Promise<Record<string, string>> {
  if (!auth) return {};
  if ('bearerToken' in auth) return { authorization: `Bearer ${auth.bearerToken}` };
  const token = await signToken({
    secret: auth.secret,
    userId: ADMIN_USER_ID,
    admin: true,
    ttlSeconds,
    issuer: auth.issuer,
    audience: auth.audience,
  });
  return { authorization: `Bearer ${token}` };
}
