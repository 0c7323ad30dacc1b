import {
  createLocalJWKSet,
  errors as joseErrors,
  type CryptoKey,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import type { Logger } from 'pino';

/** How a fetch of the key set ended: the `result` label of the key-set fetch counter. */
export type KeySetFetchResult = 'ok' | 'unreachable' | 'timeout' | 'bad_status' | 'invalid';

/** What the cached (or just fetched) key set holds for a token's header. */
export type KeyChoice =
  /** One key, or several when the token names no `kid` and more than one could fit. */
  | { status: 'found'; keys: CryptoKey[] }
  /** The key set is current and no key in it fits: the token is not the provider's. */
  | { status: 'unknown' }
  /** No cached key fits and the key set cannot be fetched now; try again in that many seconds. */
  | { status: 'unavailable'; retryAfterSeconds: number };

export interface ProviderKeys {
  /** The keys that may have signed a token with this header, fetching the set if none fits. */
  keysFor(header: JWSHeaderParameters): Promise<KeyChoice>;
  /** Fetches the key set once, without waiting for a token; a provider that is away only logs. */
  warmUp(): Promise<void>;
}

export interface ProviderKeysOptions {
  /** The provider's issuer URL: its discovery document names the key set. */
  issuer?: string | undefined;
  /** The key set itself; when set, no discovery document is read. */
  jwksUrl?: string | undefined;
  /** How long one fetch (discovery and key set together) may take. */
  fetchTimeoutMs: number;
  /** Fewest milliseconds between two fetches a token can cause. */
  cooldownMs?: number;
  /** Age past which the next token refreshes the set in the background. */
  maxAgeMs?: number;
  logger: Logger;
  countFetch: (result: KeySetFetchResult) => void;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  clock?: () => number;
}

const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_MAX_AGE_MS = 600_000;

/** An issuer that is an http(s) URL names an OpenID Connect provider, whose keys it publishes. */
export function isIssuerUrl(issuer: string | undefined): boolean {
  return issuer !== undefined && /^https?:\/\//i.test(issuer);
}

/** Where OpenID Connect Discovery puts the provider's metadata (a trailing `/` is not doubled). */
export function discoveryUrlOf(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** A fetch that reached the server but did not bring back a usable document. */
class KeySetFetchError extends Error {
  constructor(
    readonly result: 'bad_status' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'KeySetFetchError';
  }
}

function resultOf(error: unknown): Exclude<KeySetFetchResult, 'ok'> {
  if (error instanceof KeySetFetchError) return error.result;
  // An abort is a DOMException, which need not be an Error of this realm.
  const { name } = (error ?? {}) as { name?: unknown };
  return name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable';
}

/** A JSON document, refusing redirects: the key set must come from where it was configured. */
async function fetchJson(url: string, signal: AbortSignal): Promise<unknown> {
  const response = await fetch(url, {
    signal,
    redirect: 'manual',
    headers: { accept: 'application/jwk-set+json, application/json' },
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new KeySetFetchError('bad_status', `${url} answered ${response.status}`);
  }
  try {
    return await response.json();
  } catch (error) {
    if (signal.aborted) throw error;
    throw new KeySetFetchError('invalid', `${url} did not answer JSON`);
  }
}

/** The `jwks_uri` of the provider's discovery document, which must name the same issuer. */
async function discoverKeySetUrl(issuer: string, signal: AbortSignal): Promise<string> {
  const url = discoveryUrlOf(issuer);
  const metadata = (await fetchJson(url, signal)) as Record<string, unknown> | null;
  if (metadata?.['issuer'] !== issuer) {
    throw new KeySetFetchError('invalid', `${url} names another issuer than AUTH_ISSUER`);
  }
  const jwksUri = metadata['jwks_uri'];
  if (typeof jwksUri !== 'string' || !/^https?:\/\//i.test(jwksUri)) {
    throw new KeySetFetchError('invalid', `${url} has no http(s) jwks_uri`);
  }
  return jwksUri;
}

/**
 * The identity provider's signing keys, fetched lazily and kept. The last good set is never
 * dropped for its age: while the provider is away its cached keys keep verifying, and only a
 * token that none of them fits waits for a fetch, at most one per cooldown whatever the outcome.
 */
export function createProviderKeys(options: ProviderKeysOptions): ProviderKeys {
  const { issuer, fetchTimeoutMs, logger, countFetch } = options;
  const cooldownMs = options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const clock = options.clock ?? Date.now;
  if (!options.jwksUrl && !isIssuerUrl(issuer)) {
    throw new Error('provider keys need an issuer URL or a key set URL');
  }

  let keySetUrl = options.jwksUrl;
  let select: ReturnType<typeof createLocalJWKSet> | undefined;
  let kids = '';
  let fetchedAt = -Infinity;
  let lastAttemptAt = -Infinity;
  let lastAttemptFailed = false;
  let pending: Promise<void> | undefined;

  async function fetchKeySet(): Promise<void> {
    lastAttemptAt = clock();
    const signal = AbortSignal.timeout(fetchTimeoutMs);
    try {
      keySetUrl ??= await discoverKeySetUrl(issuer ?? '', signal);
      const jwks = (await fetchJson(keySetUrl, signal)) as JSONWebKeySet;
      try {
        select = createLocalJWKSet(jwks);
      } catch {
        throw new KeySetFetchError('invalid', `${keySetUrl} is not a JSON Web Key Set`);
      }
      fetchedAt = clock();
      const fetchedKids = jwks.keys.map((key) => key.kid ?? '(no kid)').join(', ');
      const changed = fetchedKids !== kids || lastAttemptFailed;
      kids = fetchedKids;
      lastAttemptFailed = false;
      countFetch('ok');
      logger[changed ? 'info' : 'debug'](
        { url: keySetUrl, kids },
        'identity provider keys fetched',
      );
    } catch (error) {
      lastAttemptFailed = true;
      const result = resultOf(error);
      countFetch(result);
      logger.warn(
        {
          url: keySetUrl ?? discoveryUrlOf(issuer ?? ''),
          result,
          reason: String((error as { message?: unknown } | undefined)?.message ?? error),
          cached_keys: select ? kids : null,
        },
        'cannot fetch the identity provider keys: cached keys still verify, tokens they do not fit answer 503 until a later fetch succeeds',
      );
    }
  }

  /** Joins the fetch in flight, or starts one when the cooldown allows. */
  function fetchOnce(): Promise<void> | undefined {
    if (!pending && clock() - lastAttemptAt >= cooldownMs) {
      pending = fetchKeySet().finally(() => {
        pending = undefined;
      });
    }
    return pending;
  }

  async function cachedKeysFor(header: JWSHeaderParameters): Promise<CryptoKey[] | undefined> {
    if (!select) return undefined;
    try {
      return [await select(header)];
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) return undefined;
      const keys: CryptoKey[] = [];
      for await (const key of error) keys.push(key);
      return keys.length > 0 ? keys : undefined;
    }
  }

  return {
    async keysFor(header) {
      const cached = await cachedKeysFor(header);
      if (cached) {
        if (clock() - fetchedAt >= maxAgeMs) void fetchOnce();
        return { status: 'found', keys: cached };
      }
      const fetching = fetchOnce();
      if (fetching) {
        await fetching;
        const fetched = await cachedKeysFor(header);
        if (fetched) return { status: 'found', keys: fetched };
      }
      if (!lastAttemptFailed) return { status: 'unknown' };
      const waitMs = lastAttemptAt + cooldownMs - clock();
      return { status: 'unavailable', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    },
    async warmUp() {
      await fetchOnce();
    },
  };
}
