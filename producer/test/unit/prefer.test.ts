import { describe, expect, it } from '@jest/globals';
import type { Request } from 'express';
import { readPreference } from '../../src/http/prefer';

const MAX_WAIT_MS = 10_000;

const preferenceOf = (prefer: string | string[] | undefined) =>
  readPreference({ headers: { prefer } } as unknown as Request, MAX_WAIT_MS);

describe('the Prefer header (RFC 7240)', () => {
  it.each([
    [undefined, { async: false }],
    ['', { async: false }],
    ['respond-async', { async: true, waitMs: 0 }],
    ['Respond-Async', { async: true, waitMs: 0 }],
    ['wait=1', { async: true, waitMs: 1_000 }],
    ['respond-async, wait=3', { async: true, waitMs: 3_000 }],
    ['wait="2"', { async: true, waitMs: 2_000 }],
    [' wait = 4 ; foo=bar', { async: true, waitMs: 4_000 }],
    // Longer than the RPC deadline: the deadline.
    ['wait=3600', { async: true, waitMs: MAX_WAIT_MS }],
    // Not a whole number of seconds from 1: ignored, as RFC 7240 asks.
    ['wait=0', { async: false }],
    ['wait=-1', { async: false }],
    ['wait=1.5', { async: false }],
    ['wait=abc', { async: false }],
    ['return=minimal', { async: false }],
    ['respond-async, wait=0', { async: true, waitMs: 0 }],
  ])('Prefer: %p reads as %p', (prefer, expected) => {
    expect(preferenceOf(prefer)).toEqual(expected);
  });

  it('reads every Prefer header of the request', () => {
    expect(preferenceOf(['return=minimal', 'respond-async'])).toEqual({ async: true, waitMs: 0 });
  });
});
