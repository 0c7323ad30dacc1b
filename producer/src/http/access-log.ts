import type { Request, Response } from 'express';
import type { Logger } from 'pino';

/**
 * One line per request when it finishes: 5xx at error, 4xx at warn, the rest at info. The
 * level is checked before anything is built, so a quiet log level costs next to nothing.
 * Headers are never logged, so no credential can reach the log this way. Called with the
 * request's duration in milliseconds.
 */
export function accessLog(logger: Logger): (req: Request, res: Response, ms: number) => void {
  return (req, res, ms) => {
    if (req.path === '/healthz' || req.path === '/readyz') return;
    const status = res.statusCode;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        request_id: res.locals['requestId'],
        method: req.method,
        route: res.locals['route'] ?? req.originalUrl.split('?')[0],
        status,
        duration_ms: ms,
      },
      'request',
    );
  };
}
