import { isSpanContextValid, trace } from '@opentelemetry/api';
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

/** The span a line is written in, by the field names OpenTelemetry gives logs (trace_id, span_id). */
function activeSpanFields(): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  if (!span || !isSpanContextValid(span)) return {};
  return {
    trace_id: span.traceId,
    span_id: span.spanId,
    trace_flags: `0${span.traceFlags.toString(16)}`.slice(-2),
  };
}

export interface LoggerOptions {
  /** Where the lines go; stdout by default. */
  destination?: DestinationStream;
  /** Adds the active span's `trace_id` and `span_id` to every line written inside one. */
  traceIds?: boolean;
}

/** JSON lines on stdout (or `destination`), with one base field naming the service. */
export function createLogger(service: string, level: string, options: LoggerOptions = {}): Logger {
  const { destination, traceIds = false } = options;
  return pino(
    {
      level,
      base: { service },
      redact: { paths: REDACTED_PATHS },
      // Only with tracing on: without it there is never a span to name.
      ...(traceIds && { mixin: activeSpanFields }),
    },
    destination,
  );
}
