import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/errors';
import {
  listQuerySchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPathSchema,
} from '../../src/http/schemas';
import { parseOrThrow } from '../../src/http/validation';

function validationErrors(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('validation_failed');
    return (error as AppError).extra['errors'];
  }
  throw new Error('expected a validation error');
}

describe('purchase request', () => {
  it('accepts a positive safe integer user_id', () => {
    expect(parseOrThrow(purchaseRequestSchema, { user_id: 12 }, 'body')).toEqual({ user_id: 12 });
  });

  it.each([[0], [-3], [1.5], [2 ** 53], ['12'], [true], [null], [[1]], [{}]])(
    'refuses user_id %p, pointing at /user_id',
    (value) => {
      expect(
        validationErrors(() => parseOrThrow(purchaseRequestSchema, { user_id: value }, 'body')),
      ).toEqual([expect.objectContaining({ in: 'body', pointer: '/user_id' })]);
    },
  );

  it('names each unknown field', () => {
    expect(
      validationErrors(() =>
        parseOrThrow(purchaseRequestSchema, { user_id: 1, 'a/b': 1, __proto__x: 2 }, 'body'),
      ),
    ).toEqual([
      { in: 'body', pointer: '/a~1b', detail: 'is not a known field' },
      { in: 'body', pointer: '/__proto__x', detail: 'is not a known field' },
    ]);
  });

  it('refuses a body that is not an object', () => {
    expect(validationErrors(() => parseOrThrow(purchaseRequestSchema, [1], 'body'))).toHaveLength(
      1,
    );
    expect(
      validationErrors(() => parseOrThrow(purchaseRequestSchema, undefined, 'body')),
    ).toHaveLength(1);
  });
});

describe('status change request', () => {
  it.each([[{ canceled: true }], [{ restarted: true }]])('accepts %p', (body) => {
    expect(parseOrThrow(statusChangeRequestSchema, body, 'body')).toEqual(body);
  });

  it.each([
    [{}],
    [{ canceled: true, restarted: true }],
    [{ canceled: false }],
    [{ restarted: 'true' }],
    [{ canceled: 1 }],
    [{ canceled: true, restarted: false }],
    [{ canceled: true, status: 'x' }],
  ])('refuses %p', (body) => {
    expect(
      validationErrors(() => parseOrThrow(statusChangeRequestSchema, body, 'body')),
    ).not.toHaveLength(0);
  });
});

describe('subscription id in the path', () => {
  it('reads a decimal id as a number', () => {
    expect(parseOrThrow(subscriptionPathSchema, { id: '42' }, 'path')).toEqual({ id: 42 });
  });

  it.each(['0', '-1', '01', '1.0', '1e3', 'abc', '0x10', ' 1', '9007199254740992', '9'.repeat(40)])(
    'refuses %p, pointing at /id',
    (id) => {
      expect(validationErrors(() => parseOrThrow(subscriptionPathSchema, { id }, 'path'))).toEqual([
        expect.objectContaining({ in: 'path', pointer: '/id' }),
      ]);
    },
  );
});

describe('list query', () => {
  it.each([
    [{ limit: '1' }, { limit: 1 }],
    [{ limit: '100' }, { limit: 100 }],
    [{ user_id: '1' }, { user_id: 1 }],
    [{ user_id: '9007199254740991' }, { user_id: 9007199254740991 }],
    [{ starting_after: '9007199254740991' }, { starting_after: 9007199254740991 }],
    [{ status: 'CANCELED' }, { status: 'CANCELED' }],
  ])('accepts %p', (query, parsed) => {
    expect(parseOrThrow(listQuerySchema, query, 'query')).toEqual(parsed);
  });

  it.each([
    ['limit', '0'],
    ['limit', '101'],
    ['limit', '999'],
    ['limit', '1000'],
    ['user_id', '0'],
    ['user_id', '9007199254740992'],
    ['user_id', '9999999999999999'],
    ['starting_after', '9007199254740992'],
    ['starting_after', '-1'],
  ])('refuses %s=%p, once, pointing at it', (name, value) => {
    expect(
      validationErrors(() => parseOrThrow(listQuerySchema, { [name]: value }, 'query')),
    ).toEqual([
      {
        in: 'query',
        pointer: `/${name}`,
        detail: expect.stringMatching(/^must be an integer from 1 to /),
      },
    ]);
  });
});
