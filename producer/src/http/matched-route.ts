import type { Request, RequestHandler } from 'express';

/**
 * The path template of the route that matched (`/:id/status`), or `undefined` before a route
 * matched. Express types `req.route` as `any`; this reads only what it needs.
 */
export function matchedRoutePath(req: Request): string | undefined {
  const route: unknown = req.route;
  if (typeof route !== 'object' || route === null || !('path' in route)) return undefined;
  return typeof route.path === 'string' ? route.path : undefined;
}

/** Names the matched route for metrics and logs, e.g. `/api/v1/subscriptions/:id/status`. */
export const nameRoute: RequestHandler = (req, res, next) => {
  const path = matchedRoutePath(req) ?? '';
  res.locals['route'] = `${req.baseUrl}${path === '/' ? '' : path}`;
  next();
};
