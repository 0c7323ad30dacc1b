import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { createOpenApiDocument, renderDocumentFile } from '../../src/api-docs/openapi';
import { MAX_ID, MAX_PAGE_SIZE } from '../../src/http/schemas';

const COMMITTED = path.join(__dirname, '../../../docs/openapi.json');

interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: Record<string, unknown>;
  example?: unknown;
}
interface MediaType {
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Operation {
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<
    string,
    { headers?: Record<string, { $ref: string }>; content?: Record<string, MediaType> }
  >;
}

const document = createOpenApiDocument() as unknown as {
  security: unknown[];
  paths: Record<string, Record<string, Operation>>;
  components: { headers: Record<string, { example: unknown }> };
};

const operations = Object.entries(document.paths).flatMap(([template, item]) =>
  Object.entries(item).map(([method, operation]) => ({
    name: `${method.toUpperCase()} ${template}`,
    template,
    method,
    operation,
  })),
);

/** The line where two texts part, to point at what changed. */
function firstDifference(expected: string, actual: string): string {
  const want = expected.split('\n');
  const got = actual.split('\n');
  const line = want.findIndex((text, index) => text !== got[index]);
  return `line ${line + 1}: expected ${JSON.stringify(want[line])}, found ${JSON.stringify(got[line])}`;
}

describe('the committed docs/openapi.json', () => {
  it('is the document the service serves', async () => {
    const expected = renderDocumentFile(createOpenApiDocument());
    const actual = await readFile(COMMITTED, 'utf8').catch(() => '');
    if (actual !== expected) {
      throw new Error(
        `docs/openapi.json is stale or missing: run npm run openapi (${firstDifference(expected, actual)})`,
      );
    }
  });

  it('is rendered the same way every time', () => {
    expect(renderDocumentFile(createOpenApiDocument())).toBe(
      renderDocumentFile(createOpenApiDocument()),
    );
  });
});

describe('the OpenAPI document', () => {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; the document is one schema resource.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, 'openapi.json');

  /** Asserts `value` matches the schema at `pointer`, whose `$ref`s resolve in the document. */
  function expectValid(pointer: string[], value: unknown, where: string): void {
    const escaped = pointer.map((key) => key.replaceAll('~', '~0').replaceAll('/', '~1'));
    const check = ajv.getSchema(`openapi.json#${encodeURI(`/${escaped.join('/')}`)}`);
    expect([where, check === undefined]).toEqual([where, false]);
    const valid = check?.(value);
    expect({ where, value, errors: valid ? null : check?.errors }).toEqual({
      where,
      value,
      errors: null,
    });
  }

  it('declares path and query ids and the page size as integers, with the bounds enforced', () => {
    const integers = operations.flatMap(({ name, operation }) =>
      (operation.parameters ?? [])
        .filter((parameter) => parameter.in !== 'header')
        .filter((parameter) => parameter.name !== 'status' && parameter.name !== 'type')
        // A command id is opaque text, not a number.
        .filter(() => !name.startsWith('GET /api/v1/commands/'))
        .map(
          (parameter) => [`${name} ${parameter.in} ${parameter.name}`, parameter.schema] as const,
        ),
    );
    const bounds = (name: string) => (name.endsWith(' limit') ? MAX_PAGE_SIZE : MAX_ID);
    expect(MAX_PAGE_SIZE).toBe(100);
    expect(MAX_ID).toBe(9007199254740991);
    expect(integers.length).toBeGreaterThanOrEqual(6);
    for (const [name, schema] of integers) {
      expect([name, schema]).toEqual([
        name,
        {
          description: expect.any(String),
          type: 'integer',
          minimum: 1,
          maximum: bounds(name),
        },
      ]);
    }
  });

  it('needs no token on the public routes and a bearer token on /api/v1', () => {
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    for (const { name, template, operation } of operations) {
      const expected = template.startsWith('/api/v1/') ? [{ bearerAuth: [] }] : [];
      expect([name, operation.security]).toEqual([name, expected]);
    }
  });

  it('declares X-Request-Id on every response, and the rate-limit headers on /api/v1 but 401', () => {
    for (const { name, template, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const names = Object.keys(response.headers ?? {});
        expect([name, status, names]).toEqual([
          name,
          status,
          expect.arrayContaining(['X-Request-Id']),
        ]);
        const limited = template.startsWith('/api/v1/') && status !== '401';
        expect([
          name,
          status,
          names.includes('RateLimit') && names.includes('RateLimit-Policy'),
        ]).toEqual([name, status, limited]);
      }
    }
  });

  it('gives every request body and every response an example that matches its schema', () => {
    for (const { name, template, method, operation } of operations) {
      const at = ['paths', template, method];
      const media = [
        ...Object.entries(operation.requestBody?.content ?? {}).map(([type, content]) => ({
          where: `${name} request ${type}`,
          pointer: [...at, 'requestBody', 'content', type, 'schema'],
          content,
        })),
        ...Object.entries(operation.responses).flatMap(([status, response]) =>
          Object.entries(response.content ?? {}).map(([type, content]) => ({
            where: `${name} ${status} ${type}`,
            pointer: [...at, 'responses', status, 'content', type, 'schema'],
            content,
          })),
        ),
      ];
      for (const { where, pointer, content } of media) {
        const examples = [
          ...(content.example === undefined ? [] : [content.example]),
          ...Object.values(content.examples ?? {}).map((example) => example.value),
        ];
        expect([where, examples.length > 0]).toEqual([where, true]);
        for (const example of examples) expectValid(pointer, example, where);
      }
    }
  });

  it('gives every parameter and header an example that matches its schema', () => {
    for (const { name, template, method, operation } of operations) {
      (operation.parameters ?? []).forEach((parameter, index) => {
        const where = `${name} ${parameter.in} ${parameter.name}`;
        expect([where, parameter.example !== undefined]).toEqual([where, true]);
        const pointer = ['paths', template, method, 'parameters', String(index), 'schema'];
        expectValid(pointer, parameter.example, where);
      });
    }
    for (const [name, header] of Object.entries(document.components.headers)) {
      expectValid(['components', 'headers', name, 'schema'], header.example, `header ${name}`);
    }
  });

  it('problem examples show the code and status of the response they belong to', () => {
    for (const { name, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const problems = response.content?.['application/problem+json']?.examples ?? {};
        for (const [code, { value }] of Object.entries(problems)) {
          expect([name, value]).toEqual([
            name,
            expect.objectContaining({ code, status: Number(status) }),
          ]);
        }
      }
    }
  });
});
