import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler, Response } from 'express';

/** What a helmet middleware does to every response: headers it sets, headers it removes. */
interface HeaderChanges {
  set: [name: string, value: string][];
  removed: string[];
}

/**
 * Runs `middleware` (helmet, configured without per-request directives such as nonces) once
 * against a response that only records, and returns what it did. The headers are then helmet's
 * own, whatever version is installed, where running helmet's chain of a dozen middleware on
 * every request cost a few per cent of the producer's time.
 */
function recordChanges(middleware: RequestHandler): HeaderChanges {
  const changes: HeaderChanges = { set: [], removed: [] };
  const response = {
    setHeader(name: string, value: unknown) {
      changes.set.push([name, String(value)]);
      return response;
    },
    removeHeader(name: string) {
      changes.removed.push(name);
    },
  };
  let passed = false;
  const handle = middleware as unknown as (
    req: IncomingMessage,
    res: ServerResponse,
    next: (error?: unknown) => void,
  ) => void;
  handle({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined)
      throw new Error('the security headers middleware failed', { cause: error });
    passed = true;
  });
  if (!passed) throw new Error('the security headers middleware did not finish at once');
  return changes;
}

/** Sets on a response the headers `middleware` sets on every response (helmet's), computed once. */
export function securityHeaders(middleware: RequestHandler): (res: Response) => void {
  const { set, removed } = recordChanges(middleware);
  return (res) => {
    for (const [name, value] of set) res.setHeader(name, value);
    for (const name of removed) res.removeHeader(name);
  };
}
