import pino, { type DestinationStream, type Logger } from 'pino';

/** The levels `LOG_LEVEL` may name. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Never written to a log: credentials in request headers, and any field named like a secret. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.password',
  '*.secret',
  '*.token',
];

/** JSON lines on stdout (or `destination`), with one base field naming the service. */
export function createLogger(
  service: string,
  level: string,
  destination?: DestinationStream,
): Logger {
  return pino({ level, base: { service }, redact: { paths: REDACTED_PATHS } }, destination);
}
