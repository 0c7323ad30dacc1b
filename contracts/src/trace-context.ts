import { z } from 'zod';

/**
 * W3C Trace Context, as a command carries it in its `traceparent` and `tracestate` headers and an
 * event both there and as the CloudEvents distributed-tracing attributes of the same names:
 * version, trace id, parent span id and flags, lowercase hex.
 */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** What the W3C recommends that every hop propagates of `tracestate` at least. */
export const TRACESTATE_MAX_LENGTH = 512;

export const traceContextSchema = z.strictObject({
  traceparent: z.string().regex(TRACEPARENT_PATTERN),
  tracestate: z.string().min(1).max(TRACESTATE_MAX_LENGTH).optional(),
});
export type TraceContext = z.infer<typeof traceContextSchema>;
