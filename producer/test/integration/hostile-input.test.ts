import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { RowDataPacket } from 'mysql2/promise';
import request from 'supertest';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { fuzzParameters } from '../../../test-support/fuzz';
import { releaseAll } from '../../../test-support/cleanup';
import {
  startKeySetServer,
  type KeySetServer,
} from '../../../test-support/identity/key-set-server';
import { createFrontDoorApp, startInProcessProducer } from '../../../test-support/producer';
import { type createApp } from '../../src/app';
import {
  listQuerySchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
} from '../../src/http/schemas';

/** Cases per property (test-support/fuzz.ts: `FUZZ_RUNS=20000 npm test` digs deeper). */
const RUNS = 1000;

/** Values that have broken JSON APIs before: edge numbers, prototype keys, injections, odd text. */
const nasty = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    0.5,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 1,
    2 ** 64,
    Number.MIN_VALUE,
    '1',
    '01',
    '1e3',
    ' 1',
    '0x10',
    '',
    'true',
    "1' OR '1'='1",
    '1; DROP TABLE subscription; --',
    '\u0000',
    '\u202e',
    '𝟙',
    '١',
    'null',
    null,
    true,
    false,
    [],
    [1],
    {},
    { $gt: 0 },
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Objects shaped like our bodies, with hostile keys and values. */
const hostileObject = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'user_id',
      'canceled',
      'restarted',
      '__proto__',
      'constructor',
      'prototype',
      '',
    ),
    fc.string({ unit: 'binary', maxLength: 12 }),
  ),
  nasty,
  { maxKeys: 4 },
);

/** Raw bodies JSON.stringify would never produce: overflowing numbers, duplicate keys, junk. */
const rawBody = fc.oneof(
  fc.constantFrom(
    '{"user_id":1e309}',
    '{"user_id":-0}',
    '{"user_id":9007199254740993}',
    '{"user_id":1,"user_id":"1"}',
    '{"user_id":"1","user_id":0}',
    '{"__proto__":{"user_id":1}}',
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"user_id":1}garbage',
    '{"canceled":true,"canceled":false}',
    '[{"user_id":1}]',
    '"user_id"',
    '1',
    'null',
    '',
    '{',
    '\u0000',
    '{"user_id":1'.padEnd(17_000, ' '),
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/merge-patch+json',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '',
);

const pathId = fc
  .oneof(
    fc.constantFrom('0', '-1', '1.5', '1e3', '01', '0x1', '9007199254740993', '%00', '%20', 'NaN'),
    fc.string({ unit: 'binary', maxLength: 30 }).map(encodeURIComponent),
    fc.stringMatching(/^[0-9]{17,300}$/),
  )
  .filter((id) => id !== ''); // an empty id is the collection itself

function isValid(schema: { safeParse(value: unknown): { success: boolean } }, text: string) {
  try {
    return schema.safeParse(JSON.parse(text)).success;
  } catch {
    return false;
  }
}

describe('hostile input, property-based', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let close: () => Promise<void>;
  let app: ReturnType<typeof createApp>;
  let subscriptionId: number;
  let before: { subscriptions: number; events: number };
  const outcomes = new Map<number, number>();

  async function counts() {
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT (SELECT COUNT(*) FROM subscription) AS s, (SELECT COUNT(*) FROM event_history) AS e',
    );
    return { subscriptions: Number(row?.['s']), events: Number(row?.['e']) };
  }

  /** Every answer is a 4xx problem+json: never a 5xx, never a success. */
  function expectRefused(res: request.Response): void {
    outcomes.set(res.status, (outcomes.get(res.status) ?? 0) + 1);
    if (res.status < 400 || res.status >= 500) {
      throw new Error(`answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: res.status, code: expect.any(String) });
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
  }

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    const producer = await startInProcessProducer({ amqpUrl: vhost.url, database: database.name });
    app = producer.app;
    close = producer.stop;
    const userId = await database.createUser();
    const created = await request(app).post('/api/v1/subscriptions').send({ user_id: userId });
    subscriptionId = created.body.id;
    before = await counts();
  });

  afterAll(async () => {
    await close?.();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
    console.log(
      `hostile input: ${[...outcomes.values()].reduce((a, b) => a + b, 0)} requests, by status ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`,
    );
  });

  it('POST with hostile objects, raw bodies and content types is always a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileObject.map((o) => JSON.stringify(o)),
          rawBody,
        ),
        contentType,
        async (body, type) => {
          fc.pre(
            !(
              type.startsWith('application/') &&
              type.includes('json') &&
              isValid(purchaseRequestSchema, body)
            ),
          );
          const call = request(app).post('/api/v1/subscriptions');
          expectRefused(await (type ? call.set('Content-Type', type) : call).send(body));
        },
      ),
      fuzzParameters(RUNS),
    );
  });

  it('PUT with hostile path ids and bodies is always a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(pathId, fc.constant(String(subscriptionId))),
        fc.oneof(
          hostileObject.map((o) => JSON.stringify(o)),
          rawBody,
        ),
        async (id, body) => {
          fc.pre(!(/^[1-9][0-9]{0,15}$/.test(id) && isValid(statusChangeRequestSchema, body)));
          expectRefused(
            await request(app)
              .put(`/api/v1/subscriptions/${id}/status`)
              .set('Content-Type', 'application/json')
              .send(body),
          );
        },
      ),
      fuzzParameters(RUNS),
    );
  });

  it('GET with hostile ids and query strings never answers 5xx', async () => {
    const queryPart = fc.dictionary(
      fc.oneof(
        fc.constantFrom('user_id', 'status', 'limit', 'starting_after'),
        fc.string({ maxLength: 8 }),
      ),
      // A query value reaches the code as text, so the generator makes text: the nasty values
      // as JSON (objects among them may have no prototype, which String() cannot convert).
      fc.oneof(
        nasty.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))),
        fc.string({ unit: 'binary', maxLength: 20 }),
      ),
      { minKeys: 1, maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(pathId, queryPart, async (id, query) => {
        // A random string can spell the one subscription that exists; reading it is no refusal.
        fc.pre(id !== String(subscriptionId));
        for (const path of [`/api/v1/subscriptions/${id}`, `/api/v1/subscriptions/${id}/history`]) {
          expectRefused(await request(app).get(path));
        }
        const res = await request(app).get('/api/v1/subscriptions').query(query);
        if (res.status === 200) {
          outcomes.set(200, (outcomes.get(200) ?? 0) + 1);
          expect(listQuerySchema.safeParse(query).success).toBe(true);
        } else {
          expectRefused(res);
        }
      }),
      fuzzParameters(RUNS),
    );
  });

  it('wrote nothing: no subscription, no event beyond the one set up', async () => {
    expect(await counts()).toEqual(before);
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT status_id, version FROM subscription WHERE id = ?',
      [subscriptionId],
    );
    expect(row).toEqual({ status_id: 1, version: 0 });
  });
});

describe('hostile bearer tokens against the secret and an identity provider at once, property-based', () => {
  const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
  let keySet: KeySetServer;
  let attacker: KeySetServer;
  let kid: string;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    [keySet, attacker] = await Promise.all([startKeySetServer(), startKeySetServer()]);
    ({ kid } = await keySet.addKey('RS256'));
    ({ app } = createFrontDoorApp({
      auth: {
        secret: SECRET,
        issuer: keySet.issuer,
        audience: 'subscriptions-api',
        clockToleranceSeconds: 5,
      },
    }));
  });

  afterAll(async () => {
    await releaseAll([keySet?.close(), attacker?.close()]);
  });

  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = fc.record(
    {
      alg: fc.oneof(
        fc.constantFrom('none', 'None', 'HS256', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA'),
        fc.string({ maxLength: 10 }),
      ),
      kid: fc.oneof(fc.constant('published'), fc.string({ maxLength: 20 }), nasty),
      typ: fc.constantFrom('JWT', 'at+jwt'),
      jku: fc.constant('attacker'),
      x5u: fc.constant('attacker'),
      jwk: fc.dictionary(fc.string({ maxLength: 4 }), nasty, { maxKeys: 3 }),
      crit: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
      b64: fc.boolean(),
    },
    { requiredKeys: ['alg'] },
  );
  const claims = fc.oneof(
    hostileObject,
    fc.record({
      sub: nasty,
      exp: nasty,
      nbf: nasty,
      iss: fc.oneof(fc.constant('issuer'), nasty),
      aud: fc.oneof(fc.constant('subscriptions-api'), nasty),
      scope: fc.oneof(fc.constant('subscriptions:admin'), nasty),
      scp: nasty,
    }),
  );
  const signature = fc.oneof(
    fc.constant(''),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  );

  it('a token of any header, claims and signature is a 401 problem, and no key material it names is fetched', async () => {
    await fc.assert(
      fc.asyncProperty(header, claims, signature, async (fields, payload, sig) => {
        const named = {
          ...fields,
          ...(fields.kid === 'published' && { kid }),
          ...(fields.jku && { jku: attacker.jwksUrl }),
          ...(fields.x5u && { x5u: `${attacker.issuer}/certificate.pem` }),
        };
        const withIssuer =
          typeof payload === 'object' && payload !== null && !Array.isArray(payload)
            ? { ...payload, ...(payload['iss'] === 'issuer' && { iss: keySet.issuer }) }
            : payload;
        const res = await request(app)
          .get('/api/v1/subscriptions')
          .set('Authorization', `Bearer ${part(named)}.${part(withIssuer)}.${sig}`);
        expect(res.status).toBe(401);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['www-authenticate']).toMatch(
          /^Bearer realm="subscriptions", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/,
        );
      }),
      fuzzParameters(500),
    );
    expect(attacker.requests).toBe(0);
    // The first provider token fetched the set; unknown kids after it fetch once per 30 s.
    expect(keySet.keySetRequests).toBeLessThanOrEqual(3);
  });
});
