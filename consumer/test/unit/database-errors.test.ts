import { describe, expect, it } from '@jest/globals';
import { isTransientDatabaseError } from '../../src/db/errors';

describe('isTransientDatabaseError', () => {
  it.each([
    ['a deadlock', { errno: 1213, code: 'ER_LOCK_DEADLOCK' }],
    ['a lock wait timeout', { errno: 1205, code: 'ER_LOCK_WAIT_TIMEOUT' }],
    ['a connection lost with no code', { fatal: true }],
    ['a refused connection', { code: 'ECONNREFUSED' }],
    ['a query timeout', { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }],
  ])('retries %s', (_name, error) => {
    expect(isTransientDatabaseError(Object.assign(new Error('x'), error))).toBe(true);
  });

  it.each([
    ['a duplicate key', { errno: 1062, code: 'ER_DUP_ENTRY' }],
    ['a syntax error', { errno: 1064, code: 'ER_PARSE_ERROR' }],
    ['a plain error', {}],
  ])('does not retry %s', (_name, error) => {
    expect(isTransientDatabaseError(Object.assign(new Error('x'), error))).toBe(false);
  });

  it('does not retry things that are not errors', () => {
    expect(isTransientDatabaseError(undefined)).toBe(false);
    expect(isTransientDatabaseError('ECONNREFUSED')).toBe(false);
  });
});
