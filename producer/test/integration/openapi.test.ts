import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { validate } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import request, { type Response } from 'supertest';
import { signToken } from '@subscriptions/tools';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { testLogger } from '../../../test-support/logger';
import {
  startKeySetServer,
  type KeySetServer,
} from '../../../test-support/identity/key-set-server';
import {
  COMMAND_SETTINGS,
  createTestAuthenticator,
  startInProcessProducer,
} from '../../../test-support/producer';
import { createApp } from '../../src/app';
import { AppError } from '../../src/errors';
import { createOpenApiDocument } from '../../src/api-docs/openapi';
import { createProducerMetrics } from '../../src/metrics';
import { fuzzParameters } from '../../../test-support/fuzz';

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  schema: { type?: string; minimum?: number; maximum?: number };
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, { headers?: Record<string, unknown> }>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { headers: Record<string, { required?: boolean; schema: { type: string } }> };
}

/** A JSON pointer into the document, as ajv wants it in a schema id. */
function pointerTo(...keys: string[]): string {
  const escaped = keys.map((key) => key.replaceAll('~', '~0').replaceAll('/', '~1'));
  return `openapi.json#${encodeURI(`/${escaped.join('/')}`)}`;
}

/**
 * Checks real answers against the document: the status is declared, the body matches its
 * schema, every header the document knows of that came is declared for this answer, and
 * every required header came, with a value its schema accepts.
 */
function createChecker(document: OpenApiDocument) {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; the document is one schema resource.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, 'openapi.json');

  function schemaAt(...keys: string[]) {
    const check = ajv.getSchema(pointerTo(...keys));
    if (!check) throw new Error(`no schema at ${keys.join(' > ')}`);
    return check;
  }

  function expectDeclared(method: string, template: string, res: Response): void {
    const operation = document.paths[template]?.[method];
    expect(operation).toBeDefined();
    const status = String(res.status);
    expect(Object.keys(operation?.responses ?? {})).toContain(status);
    const mediaType = String(res.headers['content-type']).split(';')[0] ?? '';
    const body = mediaType.endsWith('json') ? res.body : res.text;
    const check = schemaAt(
      'paths',
      template,
      method,
      'responses',
      status,
      'content',
      mediaType,
      'schema',
    );
    const valid = check(body);
    expect({ status, body, errors: valid ? null : check.errors }).toEqual({
      status,
      body,
      errors: null,
    });

    const declaredHeaders = operation?.responses[status]?.headers ?? {};
    const declared = Object.keys(declaredHeaders);
    const known = Object.entries(document.components.headers);
    const sent = known.filter(([name]) => res.headers[name.toLowerCase()] !== undefined);
    // A response may declare a shared header inline, to say it is not always sent there.
    const requiredHere = (name: string, shared: { required?: boolean }) => {
      const own = declaredHeaders[name] as { $ref?: string; required?: boolean } | undefined;
      return own !== undefined && (own.$ref === undefined ? own.required : shared.required);
    };
    const missing = known.filter(([name, header]) => requiredHere(name, header) === true);
    expect({
      status,
      undeclared: sent.map(([name]) => name).filter((name) => !declared.includes(name)),
    }).toEqual({
      status,
      undeclared: [],
    });
    expect({
      status,
      missing: missing
        .map(([name]) => name)
        .filter((name) => res.headers[name.toLowerCase()] === undefined),
    }).toEqual({ status, missing: [] });
    for (const [name, header] of sent) {
      const raw = String(res.headers[name.toLowerCase()]);
      const value = header.schema.type === 'integer' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
      const checkHeader = schemaAt('components', 'headers', name, 'schema');
      expect({ name, value, valid: checkHeader(value) }).toEqual({ name, value, valid: true });
    }
  }

  return { expectDeclared, schemaAt };
}

describe('the OpenAPI document', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let close: () => Promise<void>;
  let app: ReturnType<typeof createApp>;
  let document: OpenApiDocument;
  let checker: ReturnType<typeof createChecker>;
  let userId: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    // A limit no test reaches, so that answers carry the rate-limit headers.
    const producer = await startInProcessProducer({
      amqpUrl: vhost.url,
      database: database.name,
      rateLimitPerMinute: 1_000_000,
    });
    app = producer.app;
    close = producer.stop;
    userId = await database.createUser();
    document = (await request(app).get('/api/openapi.json').expect(200)).body;
    checker = createChecker(document);
  });

  afterAll(async () => {
    await close?.();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  const expectDeclared = (method: string, template: string, res: Response) =>
    checker.expectDeclared(method, template, res);

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('lists every route the service serves', () => {
    expect(Object.keys(document.paths).sort()).toEqual([
      '/api/asyncapi.json',
      '/api/docs',
      '/api/openapi.json',
      '/api/v1/commands/{id}',
      '/api/v1/events',
      '/api/v1/subscriptions',
      '/api/v1/subscriptions/{id}',
      '/api/v1/subscriptions/{id}/history',
      '/api/v1/subscriptions/{id}/status',
      '/healthz',
      '/metrics',
      '/readyz',
    ]);
    expect(Object.keys(document.paths['/api/v1/subscriptions'] ?? {}).sort()).toEqual([
      'get',
      'post',
    ]);
  });

  it('declares every response the write and read routes really give', async () => {
    const collection = '/api/v1/subscriptions';
    const created = await request(app).post(collection).send({ user_id: userId }).expect(201);
    expectDeclared('post', collection, created);
    const id = created.body.id as number;

    expectDeclared('post', collection, await request(app).post(collection).send({ user_id: 'x' }));
    expectDeclared(
      'post',
      collection,
      await request(app).post(collection).set('Content-Type', 'application/json').send('{'),
    );
    expectDeclared(
      'post',
      collection,
      await request(app).post(collection).send({ user_id: 999999999 }),
    );
    expectDeclared('post', collection, await request(app).post(collection).type('text').send('x'));
    expectDeclared(
      'post',
      collection,
      await request(app)
        .post(collection)
        .send({ user_id: 'x'.repeat(20_000) }),
    );

    const status = '/api/v1/subscriptions/{id}/status';
    const put = (path: string, body: object) => request(app).put(path).send(body);
    expectDeclared(
      'put',
      status,
      await put(`/api/v1/subscriptions/${id}/status`, { canceled: true }),
    );
    expectDeclared(
      'put',
      status,
      await put(`/api/v1/subscriptions/${id}/status`, { canceled: true }),
    );
    expectDeclared(
      'put',
      status,
      await put('/api/v1/subscriptions/999999999/status', { restarted: true }),
    );
    expectDeclared(
      'put',
      status,
      await put(`/api/v1/subscriptions/abc/status`, { restarted: true }),
    );

    expectDeclared(
      'get',
      '/api/v1/subscriptions/{id}',
      await request(app).get(`/api/v1/subscriptions/${id}`),
    );
    expectDeclared(
      'get',
      '/api/v1/subscriptions/{id}',
      await request(app).get('/api/v1/subscriptions/999999999'),
    );
    expectDeclared(
      'get',
      '/api/v1/subscriptions/{id}/history',
      await request(app).get(`/api/v1/subscriptions/${id}/history`),
    );
    expectDeclared(
      'get',
      collection,
      await request(app).get(collection).query({ user_id: userId, limit: 1 }),
    );
    expectDeclared('get', collection, await request(app).get(collection).query({ limit: 0 }));

    const events = '/api/v1/events';
    const page = await request(app).get(events).query({ limit: 1 }).expect(200);
    expect(page.body.data).toHaveLength(1);
    expectDeclared('get', events, page);
    expectDeclared('get', events, await request(app).get(events).query({ type: 'cancel' }));
  });

  it('declares the asynchronous answers: the 202, and the command pending, completed or absent', async () => {
    const accepted = await request(app)
      .post('/api/v1/subscriptions')
      .set('Prefer', 'respond-async')
      .send({ user_id: userId })
      .expect(202);
    expectDeclared('post', '/api/v1/subscriptions', accepted);
    const command = '/api/v1/commands/{id}';
    const location = String(accepted.headers['location']);
    let polled = await request(app).get(location).expect(200);
    while (polled.body.state === 'pending') polled = await request(app).get(location).expect(200);
    expectDeclared('get', command, polled);
    // A command the broker never carried stays pending: nothing ever records its outcome.
    const never = COMMAND_SETTINGS.commandIds.mint({
      type: 'cancel',
      owner: 'anonymous',
      acceptedAt: Date.now(),
    });
    const pending = await request(app).get(`/api/v1/commands/${never}`).expect(200);
    expect(pending.headers['retry-after']).toBe('1');
    expectDeclared('get', command, pending);
    expectDeclared(
      'get',
      command,
      await request(app).get(`/api/v1/commands/${never}x`).expect(404),
    );
    expectDeclared('get', command, await request(app).get('/api/v1/commands/a%20b').expect(400));
  });

  it('declares the answers of the operational and documentation routes', async () => {
    for (const path of [
      '/healthz',
      '/readyz',
      '/metrics',
      '/api/openapi.json',
      '/api/asyncapi.json',
      '/api/docs',
    ]) {
      expectDeclared('get', path, await request(app).get(path).expect(200));
    }
  });

  it('declares Idempotent-Replayed where a replayed answer carries it, success or refusal', async () => {
    const key = `openapi-${Date.now()}`;
    const purchase = () =>
      request(app)
        .post('/api/v1/subscriptions')
        .set('Idempotency-Key', key)
        .send({ user_id: userId });
    const first = await purchase().expect(201);
    const replayed = await purchase().expect(201);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expectDeclared('post', '/api/v1/subscriptions', replayed);

    const restart = () =>
      request(app)
        .put(`/api/v1/subscriptions/${first.body.id}/status`)
        .set('Idempotency-Key', `${key}-restart`)
        .send({ restarted: true });
    await restart().expect(409);
    const refusedAgain = await restart().expect(409);
    expect(refusedAgain.headers['idempotent-replayed']).toBe('true');
    expectDeclared('put', '/api/v1/subscriptions/{id}/status', refusedAgain);
  });

  describe('integer parameters: what the document allows is exactly what the API accepts', () => {
    const integerParameters = Object.entries(createOpenApiDocument().paths ?? {}).flatMap(
      ([template, item]) =>
        Object.entries(item as Record<string, Operation>).flatMap(([method, operation]) =>
          (operation.parameters ?? []).flatMap((parameter, index) =>
            parameter.schema.type === 'integer'
              ? [
                  {
                    name: `${method.toUpperCase()} ${template} ${parameter.in} ${parameter.name}`,
                    template,
                    method,
                    parameter,
                    index,
                  },
                ]
              : [],
          ),
        ),
    );

    /** Only this parameter varies; a PUT sends an empty body, so no command is ever sent. */
    function send(template: string, method: string, parameter: Parameter, value: number) {
      const raw = String(value);
      const path = template.replace('{id}', parameter.in === 'path' ? raw : '1');
      const query = parameter.in === 'query' ? `?${parameter.name}=${encodeURIComponent(raw)}` : '';
      return method === 'put'
        ? request(app).put(`${path}${query}`).send({})
        : request(app).get(`${path}${query}`);
    }

    it.each(integerParameters)('$name', async ({ template, method, parameter, index }) => {
      const allows = checker.schemaAt(
        'paths',
        template,
        method,
        'parameters',
        String(index),
        'schema',
      );
      const { minimum = 1, maximum = Number.MAX_SAFE_INTEGER } = parameter.schema;

      async function expectAgreement(value: number): Promise<void> {
        const res = await send(template, method, parameter, value);
        const errors = (res.body.errors ?? []) as { in: string; pointer: string }[];
        const refused =
          res.status === 400 &&
          errors.some(
            (error) => error.in === parameter.in && error.pointer === `/${parameter.name}`,
          );
        expect({ value, refused, status: res.status }).toEqual({
          value,
          refused: !allows(value),
          status: expect.any(Number),
        });
      }

      for (const value of [minimum - 1, minimum, maximum, maximum + 1, 1.5, -1]) {
        await expectAgreement(value);
      }
      expect([allows(minimum), allows(maximum), allows(minimum - 1), allows(maximum + 1)]).toEqual([
        true,
        true,
        false,
        false,
      ]);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.integer({ min: -5, max: 205 }), fc.maxSafeInteger()),
          expectAgreement,
        ),
        fuzzParameters(20),
      );
    });
  });

  it('the docs page loads its assets from this service, not a CDN', async () => {
    const page = await request(app).get('/api/docs').expect(200);
    const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(source).toMatch(/^\/api\/docs\//);
      await request(app).get(String(source)).expect(200);
    }
  });
});

describe('the OpenAPI document, for answers that need auth on, a rate limit or an outage', () => {
  const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
  const brokerDown = {
    call: () =>
      Promise.reject(new AppError('broker_unavailable', 'the message broker is unreachable')),
    submit: () =>
      Promise.reject(new AppError('broker_unavailable', 'the message broker is unreachable')),
  };
  const databaseDown = () =>
    Promise.reject(
      new AppError('database_unavailable', 'the database is unreachable; try again shortly'),
    );
  let keySet: KeySetServer;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    // An identity provider beside the secret, away: its tokens answer 503 auth_unavailable.
    keySet = await startKeySetServer();
    await keySet.behave('refuse');
    const metrics = createProducerMetrics({ pendingCalls: () => 0 });
    app = createApp({
      ...COMMAND_SETTINGS,
      rpc: brokerDown,
      queries: {
        findSubscription: databaseDown,
        findHistory: databaseDown,
        listSubscriptions: async () => ({ data: [], has_more: false }),
        findCommandOutcome: databaseDown,
        listEvents: databaseDown,
        ping: async () => undefined,
      },
      logger: testLogger,
      metrics,
      authenticate: createTestAuthenticator(
        {
          secret: SECRET,
          issuer: keySet.issuer,
          audience: 'subscriptions-api',
          clockToleranceSeconds: 0,
        },
        metrics,
      ),
      rateLimitPerMinute: 3,
      isReady: async () => true,
    });
  });

  afterAll(async () => {
    await keySet?.close();
  });

  const { expectDeclared } = createChecker(createOpenApiDocument() as unknown as OpenApiDocument);

  it('declares 401 with WWW-Authenticate, 503 with Retry-After, and 429 with both rate-limit headers', async () => {
    const collection = '/api/v1/subscriptions';
    expectDeclared('get', collection, await request(app).get(collection).expect(401));
    expectDeclared(
      'get',
      collection,
      await request(app).get(collection).auth('not.a.token', { type: 'bearer' }).expect(401),
    );

    const token = await signToken({
      secret: SECRET,
      userId: 7,
      ttlSeconds: 60,
      issuer: keySet.issuer,
      audience: 'subscriptions-api',
    });
    const as = (call: request.Test) => call.auth(token, { type: 'bearer' });
    expectDeclared('get', collection, await as(request(app).get(collection)).expect(200));
    expectDeclared(
      'post',
      collection,
      await as(request(app).post(collection).send({ user_id: 7 })).expect(503),
    );
    expectDeclared(
      'get',
      '/api/v1/subscriptions/{id}',
      await as(request(app).get('/api/v1/subscriptions/1')).expect(503),
    );
    const limited = await as(request(app).get('/api/v1/subscriptions/1/history')).expect(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expectDeclared('get', '/api/v1/subscriptions/{id}/history', limited);
  });

  it("declares 503 auth_unavailable with Retry-After, for a provider's token while its keys cannot be fetched", async () => {
    const token = await keySet.sign(await keySet.addKey(), { sub: '8', aud: 'subscriptions-api' });
    for (const [method, path, call] of [
      ['get', '/api/v1/subscriptions', request(app).get('/api/v1/subscriptions')],
      ['post', '/api/v1/subscriptions', request(app).post('/api/v1/subscriptions').send({})],
    ] as const) {
      const res = await call.auth(token, { type: 'bearer' }).expect(503);
      expect(res.body.code).toBe('auth_unavailable');
      expectDeclared(method, path, res);
    }
  });
});
