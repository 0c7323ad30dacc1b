import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { validate } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request, { type Response } from 'supertest';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { startInProcessProducer } from '../../../test-support/producer';
import { type createApp } from '../../src/app';

type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};

describe('the OpenAPI document', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let close: () => Promise<void>;
  let app: ReturnType<typeof createApp>;
  let document: OpenApiDocument;
  let ajv: Ajv2020;
  let userId: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    const producer = await startInProcessProducer({ amqpUrl: vhost.url, database: database.name });
    app = producer.app;
    close = producer.stop;
    userId = await database.createUser();
    document = (await request(app).get('/api/openapi.json').expect(200)).body;
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; the document is one schema resource.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(document, 'openapi.json');
  });

  afterAll(async () => {
    await close?.();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  /** Asserts that `res` is a response the document declares for `method` on `template`. */
  function expectDeclared(method: string, template: string, res: Response): void {
    const operation = document.paths[template]?.[method];
    expect(operation).toBeDefined();
    const status = String(res.status);
    expect(Object.keys(operation?.responses ?? {})).toContain(status);
    const mediaType = String(res.headers['content-type']).split(';')[0] ?? '';
    const pointer = `/paths/${template.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}/content/${mediaType.replaceAll('/', '~1')}/schema`;
    const check = ajv.getSchema(`openapi.json#${encodeURI(pointer)}`);
    expect(check).toBeDefined();
    const valid = check?.(res.body);
    expect({ status, body: res.body, errors: check?.errors ?? null }).toEqual({
      status,
      body: res.body,
      errors: valid ? null : expect.anything(),
    });
    expect(valid).toBe(true);
  }

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('lists every route the service serves', () => {
    expect(Object.keys(document.paths).sort()).toEqual([
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
    expectDeclared('get', '/healthz', await request(app).get('/healthz'));
    expectDeclared('get', '/readyz', await request(app).get('/readyz'));
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
