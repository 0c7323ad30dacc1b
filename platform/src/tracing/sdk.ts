import { context, diag, DiagLogLevel } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Logger } from 'pino';
import { createInstrumentations } from './instrumentations';
import type { TraceProtocol } from './settings';
import type { Tracing } from './start-tracing';

/**
 * The OpenTelemetry SDK as this service runs it: a tracer provider whose sampler, endpoint,
 * headers, timeouts and batching come from the specification's variables (read by the SDK's own
 * parts), spans sent in batches over OTLP/HTTP, W3C trace context and baggage as propagators, and
 * the instrumentations registered before the libraries they patch are loaded. Only the exporter
 * is chosen here, by the protocol the settings checked.
 */
export function startTracingSdk(options: {
  service: string;
  protocol: TraceProtocol;
  logger: Logger;
}): Tracing {
  const { service, protocol, logger } = options;
  // The SDK reports a failed export (the endpoint away) through its diagnostics, else silent.
  diag.setLogger(
    {
      error: (message, ...args) => logger.warn({ otel: args }, `tracing: ${message}`),
      warn: (message, ...args) => logger.warn({ otel: args }, `tracing: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const exporter = protocol === 'http/json' ? new JsonTraceExporter() : new ProtobufTraceExporter();
  const provider = new NodeTracerProvider({
    // Later ones win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over the process's name.
    resource: defaultResource()
      .merge(resourceFromAttributes({ 'service.name': service }))
      .merge(detectResources({ detectors: [hostDetector, processDetector, envDetector] })),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: createInstrumentations(),
  });
  return {
    untraced: (work) => context.with(suppressTracing(context.active()), work),
    shutdown: () => provider.shutdown(),
  };
}
