import pino, { type DestinationStream, type Logger } from 'pino';

/** Never written to a log: credentials in request headers, and any field named like a secret. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.password',
  '*.secret',
  '*.token',
];

/** JSON lines on stdout (or `destination`), one base field naming the service. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { service: 'producer' }, redact: { paths: REDACTED_PATHS } },
    destination,
  );
}
