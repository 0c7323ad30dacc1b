import type { Request } from 'express';

/** How the client asked to be answered (RFC 7240): wait for the outcome, or be told 202 sooner. */
export type Preference = { async: false } | { async: true; waitMs: number };

/**
 * Reads `Prefer` (every header of that name, comma-separated preferences, names in any case,
 * parameters after `;` ignored). `respond-async` alone answers 202 at the broker's confirm;
 * `wait=N` waits up to N seconds, at most `maxWaitMs`, then answers 202. A preference this
 * service does not know, or a `wait` that is not a whole number of seconds from 1, is ignored,
 * as RFC 7240 asks.
 */
export function readPreference(req: Request, maxWaitMs: number): Preference {
  const header = req.headers['prefer'];
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  let respondAsync = false;
  let waitSeconds: number | undefined;
  for (const item of text.split(',')) {
    const [token = ''] = item.split(';');
    const [name = '', rawValue] = token.split('=', 2).map((part) => part.trim());
    const value = rawValue?.replace(/^"(.*)"$/, '$1');
    switch (name.toLowerCase()) {
      case 'respond-async':
        respondAsync = true;
        break;
      case 'wait':
        if (value !== undefined && /^[1-9][0-9]{0,8}$/.test(value)) waitSeconds = Number(value);
        break;
    }
  }
  if (waitSeconds !== undefined) {
    return { async: true, waitMs: Math.min(waitSeconds * 1000, maxWaitMs) };
  }
  return respondAsync ? { async: true, waitMs: 0 } : { async: false };
}
