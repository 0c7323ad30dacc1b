import { describe, expect, it } from '@jest/globals';
import { REPLY_ERROR_CODES } from '@subscriptions/contracts';
import { ERROR_CODES } from '../../src/errors';
import { PROBLEMS, problemType } from '../../src/http/problem';

describe('error code to HTTP status table', () => {
  it.each([
    ['validation_failed', 400],
    ['malformed_json', 400],
    ['unauthorized', 401],
    ['forbidden', 403],
    ['rate_limited', 429],
    ['route_not_found', 404],
    ['subscription_not_found', 404],
    ['invalid_transition', 409],
    ['idempotency_key_in_flight', 409],
    ['idempotency_key_reused', 422],
    ['overloaded', 503],
    ['database_unavailable', 503],
    ['payload_too_large', 413],
    ['unsupported_media_type', 415],
    ['user_not_found', 422],
    ['broker_unavailable', 503],
    ['command_not_confirmed', 503],
    ['reply_timeout', 504],
    ['reply_lost', 504],
    ['internal_error', 500],
  ] as const)('answers %s with %i', (code, status) => {
    expect(PROBLEMS[code].status).toBe(status);
  });

  it('covers every code with a title', () => {
    for (const code of ERROR_CODES) expect(PROBLEMS[code].title).not.toHaveLength(0);
  });

  it('has a status for every refusal the consumer can reply with that reaches a client as-is', () => {
    const passedThrough = REPLY_ERROR_CODES.filter((code) => code in PROBLEMS);
    expect(passedThrough).toEqual([
      'user_not_found',
      'subscription_not_found',
      'invalid_transition',
      'idempotency_key_reused',
      'forbidden',
      'command_expired',
      'internal_error',
    ]);
  });

  it('names problem types with a stable URN per code', () => {
    expect(problemType('invalid_transition')).toBe('urn:subscriptions:problem:invalid_transition');
  });
});
