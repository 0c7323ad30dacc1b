import { describe, expect, it } from '@jest/globals';
import { classifyDatabaseError } from '../../src/database-errors';

const failure = (shape: object) => Object.assign(new Error('x'), shape);

describe('classifyDatabaseError', () => {
  it.each([
    ['a deadlock', { errno: 1213, code: 'ER_LOCK_DEADLOCK' }],
    ['a lock wait timeout', { errno: 1205, code: 'ER_LOCK_WAIT_TIMEOUT' }],
    ['too many connections', { errno: 1040, code: 'ER_CON_COUNT_ERROR' }],
    ['a server shutting down', { errno: 1053, code: 'ER_SERVER_SHUTDOWN' }],
    ['a connection lost with no code', { fatal: true }],
    ['a refused connection', { code: 'ECONNREFUSED' }],
    ['a write to a closed socket', { code: 'EPIPE' }],
    ['a query timeout', { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }],
  ])('calls %s transient', (_name, error) => {
    expect(classifyDatabaseError(failure(error))).toBe('transient');
  });

  it('calls a duplicate key a duplicate, not transient', () => {
    expect(classifyDatabaseError(failure({ errno: 1062, code: 'ER_DUP_ENTRY' }))).toBe('duplicate');
  });

  it.each([
    ['a syntax error', { errno: 1064, code: 'ER_PARSE_ERROR' }],
    ['a foreign key violation', { errno: 1452, code: 'ER_NO_REFERENCED_ROW_2' }],
    ['a plain error', {}],
  ])('calls %s permanent', (_name, error) => {
    expect(classifyDatabaseError(failure(error))).toBe('permanent');
  });

  it('calls things that are not errors permanent', () => {
    expect(classifyDatabaseError(undefined)).toBe('permanent');
    expect(classifyDatabaseError('ECONNREFUSED')).toBe('permanent');
  });
});
