import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Adapter, type AdapterPayload, type ClientMetadata } from 'oidc-provider';
import type { ProviderAlgorithm } from './key-set-server';

/** A service account of the provider: its tokens' `sub` is its `clientId`. */
export interface ProviderClient {
  clientId: string;
  /** May ask for the admin scope. */
  admin?: boolean;
  /** Claims its tokens carry besides the standard ones (a user id for a non-numeric `sub`). */
  claims?: Record<string, string | number>;
}

export interface IdentityProvider {
  /** `http://127.0.0.1:<port>`: the `AUTH_ISSUER` of its tokens, discovery at its well-known path. */
  readonly issuer: string;
  /** The `aud` of its access tokens. */
  readonly audience: string;
  /** The kids of the keys it signs with, by algorithm. */
  readonly kids: Readonly<Record<ProviderAlgorithm, string>>;
  /**
   * A client-credentials access token in JWT form, signed with `alg` (RS256 unless told),
   * with the admin scope when asked for and the client may have it.
   */
  issueToken(
    clientId: string,
    options?: { alg?: ProviderAlgorithm; admin?: boolean },
  ): Promise<string>;
  close(): Promise<void>;
}

const AUDIENCE = 'subscriptions-api';
/** One resource indicator per algorithm, so a test picks the algorithm of the token it asks for. */
const resourceOf = (alg: ProviderAlgorithm) => `urn:subscriptions:api:${alg.toLowerCase()}`;
const ALGORITHMS: ProviderAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** Its records in memory, as its quick-start adapter keeps them, without that one's warning. */
function memoryAdapter(): new (name: string) => Adapter {
  const records = new Map<string, AdapterPayload>();
  const key = (name: string, id: string) => `${name}:${id}`;
  return class MemoryAdapter implements Adapter {
    constructor(private readonly name: string) {}
    upsert(id: string, payload: AdapterPayload) {
      records.set(key(this.name, id), payload);
      return Promise.resolve();
    }
    find(id: string) {
      return Promise.resolve(records.get(key(this.name, id)));
    }
    findByUserCode() {
      return Promise.resolve(undefined);
    }
    findByUid() {
      return Promise.resolve(undefined);
    }
    consume() {
      return Promise.resolve();
    }
    destroy(id: string) {
      records.delete(key(this.name, id));
      return Promise.resolve();
    }
    revokeByGrantId() {
      return Promise.resolve();
    }
  };
}

/**
 * panva's `oidc-provider`, a certified OpenID Connect provider, in this process on a free
 * loopback port: discovery, a key set of RSA, P-256 and Ed25519 keys, and client-credentials
 * access tokens in JWT form (RFC 9068) for the resource `subscriptions-api`.
 */
export async function startIdentityProvider(options: {
  clients: ProviderClient[];
}): Promise<IdentityProvider> {
  const signingKeys = await Promise.all(
    (['RS256', 'ES256', 'EdDSA'] as const).map(async (alg) => {
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      return { ...(await exportJWK(privateKey)), kid: `provider-${alg.toLowerCase()}`, use: 'sig' };
    }),
  );
  // The RSA key signs both RS256 and PS256 tokens.
  const kids = {
    RS256: 'provider-rs256',
    PS256: 'provider-rs256',
    ES256: 'provider-es256',
    EdDSA: 'provider-eddsa',
  };
  const clients = new Map(options.clients.map((client) => [client.clientId, client]));
  const secretOf = (clientId: string) => `secret-of-${clientId}`;

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: signingKeys },
    clients: options.clients.map((client): ClientMetadata => ({
      client_id: client.clientId,
      client_secret: secretOf(client.clientId),
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      ...(client.admin && { scope: ADMIN_SCOPE }),
    })),
    scopes: [ADMIN_SCOPE],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resourceOf('RS256'),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: ADMIN_SCOPE,
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: ALGORITHMS.find((alg) => resourceOf(alg) === resource) ?? 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const clientId = 'clientId' in token ? token.clientId : undefined;
      return (clientId && clients.get(clientId)?.claims) || undefined;
    },
  });
  const handle = provider.callback();
  server.on('request', (req, res) => void handle(req, res));

  return {
    issuer,
    audience: AUDIENCE,
    kids,
    async issueToken(clientId, { alg = 'RS256', admin = false } = {}) {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${secretOf(clientId)}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          resource: resourceOf(alg),
          ...(admin && { scope: ADMIN_SCOPE }),
        }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || !body.access_token) {
        throw new Error(`the provider issued no token: ${response.status} ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
