import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** The algorithms an identity provider signs with, as the producer accepts them. */
export type ProviderAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  kid: string;
  alg: ProviderAlgorithm;
  privateKey: CryptoKey;
  /** The public half as the key set publishes it. */
  jwk: JWK;
}

/**
 * How the server answers: `serve` the key set; `unavailable` 503; `slow` only after
 * `delayMs`; `refuse` closes its port, so connections are refused.
 */
export type Behaviour = 'serve' | 'unavailable' | 'slow' | 'refuse';

/**
 * A key set server on 127.0.0.1 for what a real provider rarely does on demand: keys rotated,
 * an outage (refused connections, 503, slow answers). It serves a discovery document too, so
 * its `issuer` works as an `AUTH_ISSUER` URL.
 */
export interface KeySetServer {
  /** `http://127.0.0.1:<port>`, also the `iss` of the tokens it signs. */
  readonly issuer: string;
  /** Its JSON Web Key Set. */
  readonly jwksUrl: string;
  /** Requests for the key set (discovery not counted). */
  readonly keySetRequests: number;
  readonly discoveryRequests: number;
  /** Every request, whatever its path. */
  readonly requests: number;
  /** Generates a key and publishes it beside the others. */
  addKey(alg?: ProviderAlgorithm): Promise<SigningKey>;
  /** Stops publishing a key. */
  retireKey(kid: string): void;
  /**
   * A token signed with `key`: `iss` is this server, `exp` 10 minutes ahead unless the claims
   * say otherwise; `header` adds to (or overrides) the protected header.
   */
  sign(key: SigningKey, claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  behave(behaviour: Behaviour, options?: { delayMs?: number }): Promise<void>;
  close(): Promise<void>;
}

export async function generateSigningKey(alg: ProviderAlgorithm = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export async function startKeySetServer(): Promise<KeySetServer> {
  const keys: SigningKey[] = [];
  let behaviour: Behaviour = 'serve';
  let delayMs = 0;
  let keySetRequests = 0;
  let discoveryRequests = 0;
  let requests = 0;

  function answer(req: IncomingMessage, res: ServerResponse): void {
    requests += 1;
    const path = req.url ?? '';
    if (path === '/.well-known/openid-configuration') discoveryRequests += 1;
    else if (path === '/jwks') keySetRequests += 1;
    if (behaviour === 'unavailable') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
      return;
    }
    const body =
      path === '/jwks'
        ? { keys: keys.map((key) => key.jwk) }
        : path === '/.well-known/openid-configuration'
          ? { issuer, jwks_uri: jwksUrl, id_token_signing_alg_values_supported: ['RS256'] }
          : undefined;
    const send = () => {
      if (res.destroyed) return;
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (behaviour === 'slow') setTimeout(send, delayMs).unref();
    else send();
  }

  let server: Server = createServer(answer);
  await listen(server, 0);
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const jwksUrl = `${issuer}/jwks`;

  return {
    issuer,
    jwksUrl,
    get keySetRequests() {
      return keySetRequests;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
    get requests() {
      return requests;
    },
    async addKey(alg = 'RS256') {
      const key = await generateSigningKey(alg);
      keys.push(key);
      return key;
    },
    retireKey(kid) {
      const index = keys.findIndex((key) => key.kid === kid);
      if (index >= 0) keys.splice(index, 1);
    },
    sign(key, claims, header = {}) {
      return new SignJWT({ iss: issuer, exp: Math.floor(Date.now() / 1000) + 600, ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
        .sign(key.privateKey);
    },
    async behave(next, options = {}) {
      delayMs = options.delayMs ?? delayMs;
      if (next === 'refuse' && behaviour !== 'refuse') await shut(server);
      if (next !== 'refuse' && behaviour === 'refuse') {
        server = createServer(answer);
        await listen(server, port);
      }
      behaviour = next;
    },
    async close() {
      if (behaviour !== 'refuse') await shut(server);
      behaviour = 'refuse';
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function shut(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
