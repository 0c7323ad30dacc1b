import { describe, expect, it } from '@jest/globals';
import express from 'express';
import helmet from 'helmet';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { createCommandIds } from '../../src/commands/command-ids';
import { createAuthenticator } from '../../src/http/auth';
import { createProducerMetrics } from '../../src/metrics';

/** The headers helmet itself sets with the producer's options, from a plain app that runs it. */
async function helmetHeaders(): Promise<Record<string, string>> {
  const plain = express();
  plain.disable('x-powered-by');
  plain.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  plain.get('/', (_req, res) => {
    res.json({});
  });
  const res = await request(plain).get('/');
  // Everything but what any response carries is helmet's.
  const general = new Set(['content-type', 'content-length', 'date', 'etag', 'connection']);
  return Object.fromEntries(
    Object.entries(res.headers as Record<string, string>).filter(([name]) => !general.has(name)),
  );
}

function appWithFakes() {
  const subscription = {
    id: 7,
    user_id: 1,
    status: 'ACTIVE' as const,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: null,
  };
  const notUsed = () => Promise.reject(new Error('not used'));
  return createApp({
    rpc: {
      call: async () => ({ ok: true, subscription }),
      submit: async () => 'accepted',
    },
    commandIds: createCommandIds('a secret for the command ids of this test'),
    rpcTimeoutMs: 1_000,
    retentionMs: 3_600_000,
    queries: {
      findSubscription: async () => subscription,
      findHistory: notUsed,
      listSubscriptions: notUsed,
      findCommandOutcome: notUsed,
      listEvents: notUsed,
      ping: async () => undefined,
    },
    logger: pino({ level: 'silent' }),
    metrics: createProducerMetrics({ pendingCalls: () => 0, republishedCalls: () => 0 }),
    authenticate: createAuthenticator({ disabled: true }),
    rateLimitPerMinute: 0,
    isReady: async () => true,
  });
}

describe('security headers', () => {
  const app = appWithFakes();

  it.each([
    ['a purchase (201)', () => request(app).post('/api/v1/subscriptions').send({ user_id: 1 })],
    ['a read (200)', () => request(app).get('/api/v1/subscriptions/7')],
    ['a refused body (400)', () => request(app).post('/api/v1/subscriptions').send({ user: 1 })],
    [
      'a malformed body (400)',
      () =>
        request(app)
          .post('/api/v1/subscriptions')
          .set('Content-Type', 'application/json')
          .send('{'),
    ],
    ['an unknown route (404)', () => request(app).get('/api/v1/nothing')],
    ['the docs page', () => request(app).get('/api/docs')],
    ['the health check', () => request(app).get('/healthz')],
  ])('%s carries every header helmet sets, and no X-Powered-By', async (_name, send) => {
    const expected = await helmetHeaders();
    expect(Object.keys(expected).length).toBeGreaterThan(10);
    const res = await send();
    expect(res.headers).toMatchObject(expected);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
  });
});
