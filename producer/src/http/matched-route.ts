import type { Request } from 'express';

/**
 * The path template of the route that matched (`/:id/status`), or `undefined` before a route
 * matched. Express types `req.route` as `any`; this reads only what it needs.
 */
export function matchedRoutePath(req: Request): string | undefined {
  const route: unknown = req.route;
  if (typeof route !== 'object' || route === null || !('path' in route)) return undefined;
  return typeof route.path === 'string' ? route.path : undefined;
}
