import { z } from 'zod';

/** The samplers of the specification that the OpenTelemetry JS SDK builds from the environment. */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** How spans travel to the endpoint: OTLP over HTTP, as protobuf (the default) or as JSON. */
export const TRACE_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type TraceProtocol = (typeof TRACE_PROTOCOLS)[number];

const endpointSchema = z.url({
  protocol: /^https?$/,
  error: 'must be an http:// or https:// URL (OTLP over HTTP)',
});

/**
 * The OpenTelemetry variables both processes read, with the specification's meanings: merged into
 * each process's config schema, so a bad value stops the start with one line like any other. The
 * SDK reads the same environment itself; these are checked first because it would only warn and
 * carry on with a default.
 */
export const tracingSchema = z.object({
  /** Where spans go: `<endpoint>/v1/traces`, unless the traces endpoint below names the URL. */
  OTEL_EXPORTER_OTLP_ENDPOINT: endpointSchema.optional(),
  /** The whole URL spans are posted to, used as it is. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpointSchema.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(TRACE_PROTOCOLS, 'must be http/protobuf or http/json (gRPC is not supported)')
    .default('http/protobuf'),
  /** The service name on every span; each process has its own default. */
  OTEL_SERVICE_NAME: z.string().trim().min(1).max(255).optional(),
  OTEL_TRACES_SAMPLER: z
    .enum(TRACE_SAMPLERS, `must be one of ${TRACE_SAMPLERS.join(', ')}`)
    .default('parentbased_always_on'),
  /** The ratio of the ratio samplers; the others ignore it. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number('must be a number from 0 to 1')
    .min(0, 'must be a number from 0 to 1')
    .max(1, 'must be a number from 0 to 1')
    .optional(),
  /** `true` turns tracing off even with an endpoint set. */
  OTEL_SDK_DISABLED: z
    .string()
    .toLowerCase()
    .pipe(z.enum(['true', 'false'], 'must be true or false'))
    .default('false')
    .transform((value) => value === 'true'),
});

export type TracingVariables = z.infer<typeof tracingSchema>;

/** What starting tracing needs to know; the SDK reads the rest of the environment itself. */
export interface TracingSettings {
  protocol: TraceProtocol;
  /** Where spans are posted, for the log line that says tracing is on. */
  endpoint: string;
}

/**
 * Tracing is on when an OTLP endpoint is set and the SDK is not disabled; `undefined` is off, and
 * then no part of the SDK is loaded at all.
 */
export function tracingSettingsOf(variables: TracingVariables): TracingSettings | undefined {
  const base = variables.OTEL_EXPORTER_OTLP_ENDPOINT;
  const endpoint =
    variables.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`);
  if (endpoint === undefined || variables.OTEL_SDK_DISABLED) return undefined;
  return { protocol: variables.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, endpoint };
}
