import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseEnvironment, tracingSchema, tracingSettingsOf } from '../../src/startup';

const settingsFor = (env: Record<string, string>) =>
  tracingSettingsOf(parseEnvironment(tracingSchema, env));

describe('tracing settings', () => {
  it('are off without an OTLP endpoint, whatever else is set', () => {
    expect(settingsFor({})).toBeUndefined();
    expect(
      settingsFor({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }),
    ).toBeUndefined();
  });

  it('post to <endpoint>/v1/traces as protobuf by default', () => {
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      protocol: 'http/protobuf',
      endpoint: 'http://collector:4318/v1/traces',
    });
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })?.endpoint).toBe(
      'http://collector:4318/v1/traces',
    );
  });

  it('post to the traces endpoint as it is, over the general one, as JSON when asked', () => {
    expect(
      settingsFor({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      }),
    ).toEqual({ protocol: 'http/json', endpoint: 'https://traces.example/otlp' });
  });

  it('are off when the SDK is disabled, in any case of true', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(settingsFor({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
    expect(settingsFor({ ...endpoint, OTEL_SDK_DISABLED: 'false' })).toBeDefined();
  });

  it('accept every sampler the SDK builds from the environment, and a ratio from 0 to 1', () => {
    for (const sampler of ['always_on', 'traceidratio', 'parentbased_traceidratio']) {
      expect(() =>
        parseEnvironment(tracingSchema, {
          OTEL_TRACES_SAMPLER: sampler,
          OTEL_TRACES_SAMPLER_ARG: '0.1',
        }),
      ).not.toThrow();
    }
    expect(() => parseEnvironment(tracingSchema, { OTEL_TRACES_SAMPLER_ARG: '-0.1' })).toThrow(
      ConfigError,
    );
  });

  it('refuse gRPC and an endpoint that is not an http(s) URL', () => {
    let caught: unknown;
    try {
      parseEnvironment(tracingSchema, {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
      });
    } catch (error) {
      caught = error;
    }
    expect((caught as ConfigError).problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    ]);
  });
});
