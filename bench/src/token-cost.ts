import { randomBytes } from 'node:crypto';
import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { signToken } from '@subscriptions/tools';
import pino from 'pino';
import type { Cleanup } from '../../test-support/cleanup';
import {
  generateSigningKey,
  startKeySetServer,
  type KeySetServer,
} from '../../test-support/identity/key-set-server';
import { createTokenVerifier } from '../../producer/src/identity/token-verifier';
import { createProducerMetrics } from '../../producer/src/metrics';

const AUDIENCE = 'subscriptions-api';
/** The producer's cooldown between key-set fetches a token can cause. */
const COOLDOWN_MS = 30_000;
const BURST = 200;

/** The identity provider of a `--token-cost` run: a key-set server in the bench's process. */
export interface TokenIssuer {
  /** What the spawned producer is started with: the secret and the provider side by side. */
  producerSettings: Record<string, string>;
  /** Admin tokens of user 1 (the seeded Admin), each kind for the whole run. */
  headers: { hs256: Record<string, string>; rs256: Record<string, string> };
  keySet: KeySetServer;
}

/**
 * One verification in this process, each kind, the key set already cached: CPU time (user and
 * system, the crypto threads included), which a busy machine inflates less than the wall time.
 */
export interface VerificationCost {
  hs256: { cpuMicros: number; wallMicros: number };
  rs256: { cpuMicros: number; wallMicros: number };
  verifications: number;
}

export interface KeySetFetches {
  /** A new key published and 50 requests signed with it, 30 s after the last fetch. */
  rotation: number;
  /** Unknown kids right after that, within the cooldown: each answered 401. */
  burstWithinCooldown: number;
  /** The same burst once the cooldown has passed. */
  burstAfterCooldown: number;
  burstSize: number;
}

export async function startTokenIssuer(cleanup: Cleanup, ttlSeconds: number): Promise<TokenIssuer> {
  const keySet = await startKeySetServer();
  cleanup.add('stop the key-set server', () => keySet.close());
  const key = await keySet.addKey('RS256');
  const secret = randomBytes(32).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const [hs256, rs256] = await Promise.all([
    signToken({
      secret,
      userId: 1,
      admin: true,
      ttlSeconds,
      issuer: keySet.issuer,
      audience: AUDIENCE,
    }),
    keySet.sign(key, { sub: '1', aud: AUDIENCE, scope: ADMIN_SCOPE, exp }),
  ]);
  return {
    producerSettings: {
      AUTH_DISABLED: 'false',
      AUTH_JWT_SECRET: secret,
      AUTH_ISSUER: keySet.issuer,
      AUTH_AUDIENCE: AUDIENCE,
    },
    headers: {
      hs256: { authorization: `Bearer ${hs256}` },
      rs256: { authorization: `Bearer ${rs256}` },
    },
    keySet,
  };
}

/**
 * Counts the fetches of the producer's key set (the requests the key-set server receives): a
 * rotation, then bursts of unknown kids inside the cooldown and after it. Waits the cooldown out
 * twice, about a minute.
 */
export async function countKeySetFetches(
  baseUrl: string,
  keySet: KeySetServer,
  log: (line: string) => void,
): Promise<KeySetFetches> {
  const list = async (token: string) => {
    const response = await fetch(`${baseUrl}/api/v1/subscriptions?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body?.cancel();
    return response.status;
  };
  const fetchesDuring = async (requests: () => Promise<number[]>, expected: number) => {
    const before = keySet.keySetRequests;
    const statuses = await requests();
    const unexpected = statuses.filter((status) => status !== expected);
    if (unexpected.length > 0) {
      throw new Error(`expected ${expected} answers, got ${unexpected.slice(0, 5).join(', ')}`);
    }
    return keySet.keySetRequests - before;
  };
  const claims = { sub: '1', aud: AUDIENCE };
  const stranger = await generateSigningKey('ES256');
  const burst = () =>
    Promise.all(
      Array.from({ length: BURST }, async (_, i) =>
        list(await keySet.sign(stranger, claims, { kid: `unknown-${i}` })),
      ),
    );

  log(`key-set fetches: waiting ${COOLDOWN_MS / 1000} s for the cooldown of the last fetch`);
  await waitFor(COOLDOWN_MS);
  const next = await keySet.addKey('RS256');
  const rotated = await keySet.sign(next, claims);
  const rotation = await fetchesDuring(
    () => Promise.all(Array.from({ length: 50 }, () => list(rotated))),
    200,
  );
  const burstWithinCooldown = await fetchesDuring(burst, 401);
  log(`key-set fetches: waiting ${COOLDOWN_MS / 1000} s for the cooldown again`);
  await waitFor(COOLDOWN_MS);
  const burstAfterCooldown = await fetchesDuring(burst, 401);
  return { rotation, burstWithinCooldown, burstAfterCooldown, burstSize: BURST };
}

/**
 * Times the producer's verifier alone on the two admin tokens, turn about, so the figure is what
 * a token costs without the HTTP and database work around it.
 */
export async function timeVerifications(tokenIssuer: TokenIssuer): Promise<VerificationCost> {
  const settings = tokenIssuer.producerSettings;
  const verifier = createTokenVerifier({
    secret: settings['AUTH_JWT_SECRET'],
    issuer: settings['AUTH_ISSUER'],
    audience: settings['AUTH_AUDIENCE'],
    clockToleranceSeconds: 5,
    fetchTimeoutMs: 5_000,
    logger: pino({ level: 'silent' }),
    metrics: createProducerMetrics({ pendingCalls: () => 0 }),
  });
  const tokenOf = (headers: Record<string, string>) =>
    (headers['authorization'] ?? '').replace(/^Bearer /, '');
  const tokens = {
    hs256: tokenOf(tokenIssuer.headers.hs256),
    rs256: tokenOf(tokenIssuer.headers.rs256),
  };
  const verifications = 2_000;
  const time = async (token: string) => {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < verifications; i += 1) {
      const verification = await verifier.verify(token);
      if (verification.outcome !== 'accepted') throw new Error(`token ${verification.outcome}`);
    }
    const wall = Number(process.hrtime.bigint() - started) / 1e3;
    const { user, system } = process.cpuUsage(cpu);
    return { cpuMicros: (user + system) / verifications, wallMicros: wall / verifications };
  };
  // A warm-up of each (JIT, the key import and the first fetch), then five turns each.
  await time(tokens.hs256);
  await time(tokens.rs256);
  const turns: { hs256: Cost[]; rs256: Cost[] } = { hs256: [], rs256: [] };
  for (let turn = 0; turn < 5; turn += 1) {
    turns.hs256.push(await time(tokens.hs256));
    turns.rs256.push(await time(tokens.rs256));
  }
  return { hs256: medianCost(turns.hs256), rs256: medianCost(turns.rs256), verifications };
}

type Cost = VerificationCost['hs256'];

function medianCost(costs: Cost[]): Cost {
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  return {
    cpuMicros: Number(median(costs.map((cost) => cost.cpuMicros)).toFixed(1)),
    wallMicros: Number(median(costs.map((cost) => cost.wallMicros)).toFixed(1)),
  };
}

function waitFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
