import { ADMIN_SCOPE } from '@subscriptions/contracts';
import {
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import type { Logger } from 'pino';
import type { ProducerMetrics } from '../metrics';
import { createProviderKeys, isIssuerUrl, type ProviderKeys } from './provider-keys';

/** Who is calling. `userId` is null only when auth is off (then everyone acts as admin). */
export interface Principal {
  /** The user id as text, or `anonymous`: the scope of the caller's Idempotency-Keys. */
  subject: string;
  userId: number | null;
  admin: boolean;
}

/** The key a token was checked against: the shared secret, the provider's keys, or none at all. */
export type KeyKind = 'secret' | 'provider' | 'none';

export type RefusalReason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'user_id';

export type Verification =
  | { outcome: 'accepted'; kind: KeyKind; principal: Principal }
  | { outcome: 'refused'; kind: KeyKind; reason: RefusalReason; detail: string }
  /** The provider's keys could not be fetched and none cached fits: nothing was decided. */
  | { outcome: 'unavailable'; kind: 'provider'; retryAfterSeconds: number };

export interface TokenVerifier {
  verify(token: string): Promise<Verification>;
  /** Fetches the provider's keys ahead of the first token; resolves whether or not it could. */
  warmUp(): Promise<void>;
}

/** What identity providers sign with. HS256 belongs to the shared secret alone. */
const PROVIDER_ALGORITHMS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export interface TokenVerifierOptions {
  /** HS256 secret; tokens of our own tools and tests. */
  secret?: string | undefined;
  /** The `iss` every token must carry; an http(s) URL also names the provider to discover. */
  issuer?: string | undefined;
  /** The `aud` every token must name. */
  audience?: string | undefined;
  /** The provider's key set, when it has no discovery document. */
  jwksUrl?: string | undefined;
  /** The claim of a provider's token that holds the user id; `sub` unless set. */
  userIdClaim?: string | undefined;
  clockToleranceSeconds: number;
  fetchTimeoutMs: number;
  logger: Logger;
  metrics: Pick<ProducerMetrics, 'keySetFetches'>;
  /** Drives the key cache's cooldown and age; tests move it instead of waiting. */
  clock?: () => number;
}

/** A user id: decimal digits, no sign or leading zero, a safe integer. */
const USER_ID = /^[1-9][0-9]{0,15}$/;

const BAD_TOKEN = 'the token is malformed or its signature is not valid';

function userIdOf(claim: unknown): number | undefined {
  const text = typeof claim === 'number' ? String(claim) : claim;
  if (typeof text !== 'string' || !USER_ID.test(text)) return undefined;
  const userId = Number(text);
  return Number.isSafeInteger(userId) ? userId : undefined;
}

/** `scope` is space-separated (RFC 9068); some providers send `scp`, as a list or as text. */
function scopesOf(payload: JWTPayload): string[] {
  const { scope, scp } = payload;
  const listed = Array.isArray(scp)
    ? scp.filter((entry): entry is string => typeof entry === 'string')
    : typeof scp === 'string'
      ? scp.split(' ')
      : [];
  return [...(typeof scope === 'string' ? scope.split(' ') : []), ...listed];
}

function refused(kind: KeyKind, reason: RefusalReason, detail: string): Verification {
  return { outcome: 'refused', kind, reason, detail };
}

function refusalOf(kind: KeyKind, error: unknown): Verification {
  if (error instanceof joseErrors.JWTExpired) {
    return refused(kind, 'expired', 'the token has expired');
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const reason = error.claim === 'nbf' ? 'not_yet_valid' : 'claims';
    return refused(kind, reason, `the token's "${error.claim}" claim is not acceptable`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return refused(kind, 'signature', BAD_TOKEN);
  }
  return refused(kind, 'malformed', BAD_TOKEN);
}

/**
 * Verifies bearer JWTs. The token's `alg` picks the path and each path has one kind of key:
 * HS256 the secret, the provider's algorithms the provider's published keys. So no key of one
 * kind ever checks a token of the other, whatever its `alg` or `kid` says, and `none` fits
 * neither. Key material in the token's own header (`jwk`, `jku`, `x5u`, `x5c`) is never read.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { secret, issuer, audience, jwksUrl, clockToleranceSeconds, logger, metrics } = options;
  const userIdClaim = options.userIdClaim ?? 'sub';
  // Imported once: given the raw bytes, jose imports the key again for every token (about
  // 120 µs of CPU each, twice what the verification itself costs).
  const secretKey =
    secret === undefined
      ? undefined
      : crypto.subtle.importKey(
          'raw',
          new TextEncoder().encode(secret),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['verify'],
        );
  const providerKeys: ProviderKeys | undefined =
    jwksUrl !== undefined || isIssuerUrl(issuer)
      ? createProviderKeys({
          issuer,
          jwksUrl,
          fetchTimeoutMs: options.fetchTimeoutMs,
          logger,
          countFetch: (result) => metrics.keySetFetches.inc({ result }),
          ...(options.clock && { clock: options.clock }),
        })
      : undefined;
  if (!secretKey && !providerKeys) {
    throw new Error('a token verifier needs a secret or an identity provider');
  }
  const claims: JWTVerifyOptions = {
    requiredClaims: ['exp'],
    clockTolerance: clockToleranceSeconds,
    ...(issuer !== undefined && { issuer }),
    ...(audience !== undefined && { audience }),
  };

  /** Tries each candidate key; only a signature mismatch moves on to the next. */
  async function check(
    kind: KeyKind,
    token: string,
    keys: CryptoKey[],
    algorithms: string[],
    idClaim: string,
  ): Promise<Verification> {
    let failure: unknown;
    for (const key of keys) {
      try {
        const { payload } = await jwtVerify(token, key, { ...claims, algorithms });
        const userId = userIdOf(payload[idClaim]);
        if (userId === undefined) {
          return refused(kind, 'user_id', `the token's "${idClaim}" must be a user id`);
        }
        const admin = scopesOf(payload).includes(ADMIN_SCOPE);
        return { outcome: 'accepted', kind, principal: { subject: String(userId), userId, admin } };
      } catch (error) {
        failure = error;
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    return refusalOf(kind, failure);
  }

  return {
    async verify(token) {
      let header;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        return refused('none', 'malformed', BAD_TOKEN);
      }
      const { alg } = header;
      if (alg === 'HS256' && secretKey) {
        // The secret has no `kid`: a token naming one names some other key.
        if (header.kid !== undefined) {
          return refused(
            'secret',
            'unknown_key',
            'the token names a key the service does not have',
          );
        }
        // Our own tools sign HS256 with `sub` as the user id; the claim setting is for providers.
        return check('secret', token, [await secretKey], ['HS256'], 'sub');
      }
      if (providerKeys && typeof alg === 'string' && PROVIDER_ALGORITHMS.includes(alg)) {
        const choice = await providerKeys.keysFor(header);
        if (choice.status === 'unavailable') {
          const { retryAfterSeconds } = choice;
          return { outcome: 'unavailable', kind: 'provider', retryAfterSeconds };
        }
        if (choice.status === 'unknown') {
          return refused('provider', 'unknown_key', 'the token is signed with an unknown key');
        }
        return check('provider', token, choice.keys, [alg], userIdClaim);
      }
      return refused('none', 'algorithm', `the token's "alg" is not accepted`);
    },
    async warmUp() {
      await providerKeys?.warmUp();
    },
  };
}
