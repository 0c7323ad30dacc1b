import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { bearerChallenge } from '../../src/http/auth';
import { fuzzParameters } from '../../../test-support/fuzz';

/** RFC 6750 section 3: `error_description` holds %x20-21 / %x23-5B / %x5D-7E only. */
const CHALLENGE =
  /^Bearer realm="subscriptions", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"$/;

describe('the WWW-Authenticate challenge', () => {
  it('names no error when no credentials came', () => {
    expect(bearerChallenge()).toBe('Bearer realm="subscriptions"');
  });

  it('keeps a plain description as it is', () => {
    expect(bearerChallenge('the token has expired')).toBe(
      'Bearer realm="subscriptions", error="invalid_token", error_description="the token has expired"',
    );
  });

  it('turns the quotes of a jose claim message into apostrophes, and other unsafe characters into ?', () => {
    expect(bearerChallenge('unexpected "iss" claim value \\ é\n')).toBe(
      `Bearer realm="subscriptions", error="invalid_token", error_description="unexpected 'iss' claim value ? ??"`,
    );
  });

  it('stays one well-formed quoted string whatever the description holds', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (description) => {
        expect(bearerChallenge(description)).toMatch(CHALLENGE);
      }),
      fuzzParameters(100),
    );
  });
});
