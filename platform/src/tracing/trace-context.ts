import {
  context,
  type Context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import type { TraceContext } from '@subscriptions/contracts';

/**
 * The context of the span running now, as W3C Trace Context: what a history row keeps so that
 * its event goes out in the same trace. `undefined` outside a span, and always with tracing off.
 */
export function currentTraceContext(): TraceContext | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const { traceparent, tracestate } = carrier;
  if (traceparent === undefined) return undefined;
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * Runs `work` in the trace `traceContext` names, so the spans it makes (a publish) join it; with
 * none, in the context it was called in.
 */
export function runInTraceContext<T>(
  traceContext: TraceContext | null | undefined,
  work: () => T,
): T {
  if (!traceContext) return work();
  return context.with(propagation.extract(ROOT_CONTEXT, traceContext), work);
}

/** A link to the span `from` holds, if it holds a valid one (with tracing off it never does). */
export function linkTo(from: Context): Link | undefined {
  const span = trace.getSpanContext(from);
  return span && trace.isSpanContextValid(span) ? { context: span } : undefined;
}
