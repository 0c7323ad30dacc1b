import { ADMIN_SCOPE } from '@subscriptions/contracts';
import type { RequestHandler, Response } from 'express';
import { errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from '../errors';

/** Who is calling. `userId` is null only when auth is off (then everyone acts as admin). */
export interface Principal {
  /** The token's `sub`, or `anonymous`: the scope of the caller's Idempotency-Keys. */
  subject: string;
  userId: number | null;
  admin: boolean;
}

/** A `sub` is a user id: decimal digits, no sign or leading zero, a safe integer. */
const USER_ID = /^[1-9][0-9]{0,15}$/;

export type AuthOptions =
  | { disabled: true }
  | {
      disabled: false;
      secret: string;
      issuer?: string | undefined;
      audience?: string | undefined;
      clockToleranceSeconds: number;
    };

const ANONYMOUS: Principal = { subject: 'anonymous', userId: null, admin: true };

/** The principal `authenticate` stored for this request. */
export function principalOf(res: Response): Principal {
  return (res.locals['principal'] as Principal | undefined) ?? ANONYMOUS;
}

/**
 * The user whose subscriptions are all a caller may see and change: its own for anyone but an
 * admin, none (undefined: everyone's) for an admin.
 */
export function confinedUserOf(principal: Principal): number | undefined {
  return principal.admin ? undefined : (principal.userId ?? undefined);
}

/** What RFC 6750 allows inside `error_description="..."`: printable ASCII except `"` and `\`. */
const DESCRIPTION_UNSAFE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * The `WWW-Authenticate` challenge: no error code when no credentials came, `invalid_token`
 * when they were bad. The description loses its quotes and anything else that would end or
 * corrupt the quoted string; the problem body keeps the detail as written.
 */
export function bearerChallenge(description?: string): string {
  if (description === undefined) return 'Bearer realm="subscriptions"';
  const safe = description.replaceAll('"', "'").replace(DESCRIPTION_UNSAFE, '?');
  return `Bearer realm="subscriptions", error="invalid_token", error_description="${safe}"`;
}

function unauthorized(detail: string, tokenGiven: boolean): AppError {
  const challenge = bearerChallenge(tokenGiven ? detail : undefined);
  return new AppError('unauthorized', detail, {}, { 'WWW-Authenticate': challenge });
}

/**
 * Verifies `Authorization: Bearer <JWT>`: HS256 only (no `none`, no other algorithm), signed
 * with the configured secret, `exp` required, `nbf` honoured, issuer and audience checked when
 * configured. Stores the principal for the routes and the ownership checks.
 */
export function createAuthenticator(options: AuthOptions): RequestHandler {
  if (options.disabled) {
    return (_req, res, next) => {
      res.locals['principal'] = ANONYMOUS;
      next();
    };
  }
  const key = new TextEncoder().encode(options.secret);
  const { issuer, audience, clockToleranceSeconds } = options;

  return async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) throw unauthorized('a bearer token is required', false);
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!match?.[1]) throw unauthorized('the Authorization header must be "Bearer <JWT>"', true);

    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'sub'],
        clockTolerance: clockToleranceSeconds,
        ...(issuer && { issuer }),
        ...(audience && { audience }),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthorized('the token has expired', true);
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        throw unauthorized(`the token's "${error.claim}" claim is not acceptable`, true);
      }
      throw unauthorized('the token is malformed or its signature is not valid', true);
    }

    const sub = payload.sub ?? '';
    if (!USER_ID.test(sub) || !Number.isSafeInteger(Number(sub))) {
      throw unauthorized('the token\'s "sub" must be a user id', true);
    }
    const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [];
    res.locals['principal'] = {
      subject: sub,
      userId: Number(sub),
      admin: scopes.includes(ADMIN_SCOPE),
    } satisfies Principal;
    next();
  };
}
