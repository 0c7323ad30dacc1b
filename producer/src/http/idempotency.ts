import type { Request } from 'express';
import { AppError } from '../errors';

/** 1 to 255 printable ASCII characters, as docs/api.md ("Idempotency keys") allows. */
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** The request's Idempotency-Key, `undefined` when absent; a malformed key is a 400. */
export function readIdempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!KEY_PATTERN.test(key)) {
    throw new AppError(
      'validation_failed',
      'Idempotency-Key must be 1 to 255 printable ASCII characters',
      {
        errors: [
          {
            in: 'header',
            pointer: '/Idempotency-Key',
            detail: 'must be 1 to 255 printable ASCII characters',
          },
        ],
      },
    );
  }
  return key;
}

export interface InFlightKeys {
  /** Claims `scopedKey`; returns its release, or `null` while another request holds it. */
  claim(scopedKey: string): (() => void) | null;
}

/**
 * The keys this process is waiting on. It answers a concurrent repeat with 409 at once; the
 * consumer's command record is what makes a repeat safe across processes.
 */
export function createInFlightKeys(): InFlightKeys {
  const held = new Set<string>();
  return {
    claim(scopedKey) {
      if (held.has(scopedKey)) return null;
      held.add(scopedKey);
      return () => held.delete(scopedKey);
    },
  };
}
