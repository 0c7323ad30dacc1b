import type { RequestHandler, Response } from 'express';
import { AppError } from '../errors';
import type { Principal, TokenVerifier } from '../identity/token-verifier';
import type { ProducerMetrics } from '../metrics';

export type AuthOptions =
  | { disabled: true }
  | {
      disabled: false;
      verifier: TokenVerifier;
      metrics: Pick<ProducerMetrics, 'tokenVerifications'>;
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
 * Checks `Authorization: Bearer <JWT>` with the verifier and stores the principal for the routes
 * and the ownership checks. A refused token is 401; a provider whose keys cannot be fetched is
 * 503 `auth_unavailable`, since nothing was decided about the token. The token itself is never
 * logged or echoed.
 */
export function createAuthenticator(options: AuthOptions): RequestHandler {
  if (options.disabled) {
    return (_req, res, next) => {
      res.locals['principal'] = ANONYMOUS;
      next();
    };
  }
  const { verifier, metrics } = options;

  return async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) {
      metrics.tokenVerifications.inc({ outcome: 'refused', reason: 'missing', kind: 'none' });
      throw unauthorized('a bearer token is required', false);
    }
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!match?.[1]) {
      metrics.tokenVerifications.inc({ outcome: 'refused', reason: 'malformed', kind: 'none' });
      throw unauthorized('the Authorization header must be "Bearer <JWT>"', true);
    }

    const verification = await verifier.verify(match[1]);
    const { outcome, kind } = verification;
    switch (outcome) {
      case 'accepted':
        metrics.tokenVerifications.inc({ outcome, reason: 'valid', kind });
        res.locals['principal'] = verification.principal;
        next();
        return;
      case 'refused':
        metrics.tokenVerifications.inc({ outcome, reason: verification.reason, kind });
        throw unauthorized(verification.detail, true);
      case 'unavailable':
        metrics.tokenVerifications.inc({ outcome, reason: 'keys_unavailable', kind });
        throw new AppError(
          'auth_unavailable',
          "the identity provider's keys cannot be fetched right now; retry later",
          {},
          { 'Retry-After': String(verification.retryAfterSeconds) },
        );
    }
  };
}
