import { describe, expect, it } from '@jest/globals';
import { ConfigError, configDeprecations, loadConfig } from '../../src/config';

describe('consumer loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_PORT: 3306,
      MYSQL_USER: 'root',
      MYSQL_PASSWORD: '',
      MYSQL_DATABASE: 'subscriptions',
      CONSUMER_CONCURRENCY: 64,
      CONSUMER_TRANSACTIONS: 2,
      BATCH_SIZE: 64,
      BATCH_LINGER_MS: 20,
      COMMAND_RETENTION_HOURS: 24,
      EVENTS_ENABLED: true,
      METRICS_PORT: 9464,
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_SDK_DISABLED: false,
    });
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ MYSQL_PORT: '' }).MYSQL_PORT).toBe(3306);
  });

  it('names every bad variable on a line of its own', () => {
    let caught: unknown;
    try {
      loadConfig({ MYSQL_PORT: 'abc', AMQP_URL: 'http://x', MYSQL_DATABASE: 'a-b' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'AMQP_URL',
      'MYSQL_DATABASE',
      'MYSQL_PORT',
    ]);
  });

  it('names each bad OpenTelemetry variable on a line of its own, with the others', () => {
    let caught: unknown;
    try {
      loadConfig({
        MYSQL_PORT: 'abc',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
        OTEL_SDK_DISABLED: 'maybe',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.sort()).toEqual([
      'MYSQL_PORT: Invalid input: expected number, received NaN',
      'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL (OTLP over HTTP)',
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: must be http/protobuf or http/json (gRPC is not supported)',
      'OTEL_SDK_DISABLED: must be true or false',
      'OTEL_TRACES_SAMPLER: must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
      'OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1',
    ]);
  });

  it('turns event publishing off only for the literal false', () => {
    expect(loadConfig({ EVENTS_ENABLED: 'false' }).EVENTS_ENABLED).toBe(false);
    expect(loadConfig({ EVENTS_ENABLED: 'true' }).EVENTS_ENABLED).toBe(true);
    expect(() => loadConfig({ EVENTS_ENABLED: 'no' })).toThrow(ConfigError);
  });

  it('accepts several brokers of one cluster as a comma-separated list', () => {
    const list = 'amqp://rabbit-1:5672,amqp://rabbit-2:5672, amqp://rabbit-3:5672';
    expect(loadConfig({ AMQP_URL: list }).AMQP_URL).toBe(list);
  });

  it('names each bad entry of the broker list, without its password', () => {
    let caught: unknown;
    try {
      loadConfig({ AMQP_URL: 'amqp://u:secret@rabbit-1?heartbeat=x, amqp://rabbit-2, rabbit-3' });
    } catch (error) {
      caught = error;
    }
    expect((caught as ConfigError).problems).toEqual([
      'AMQP_URL: entry 1 "amqp://u:***@rabbit-1?heartbeat=x" has heartbeat=x: must be a whole number',
      'AMQP_URL: entry 3 "rabbit-3" is not an amqp:// or amqps:// URL',
    ]);
  });

  describe('the retention of command records', () => {
    it('reads COMMAND_RETENTION_HOURS, with nothing deprecated to log', () => {
      const env = { COMMAND_RETENTION_HOURS: '72' };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(72);
      expect(configDeprecations(env)).toEqual([]);
    });

    it('reads the old name, PROCESSED_RETENTION_HOURS, set alone, and calls it deprecated', () => {
      const env = { PROCESSED_RETENTION_HOURS: '48' };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(48);
      expect(configDeprecations(env)).toEqual([
        'PROCESSED_RETENTION_HOURS is deprecated, read as COMMAND_RETENTION_HOURS: set that instead',
      ]);
    });

    it('takes both names set alike as one value', () => {
      const env = { COMMAND_RETENTION_HOURS: '48', PROCESSED_RETENTION_HOURS: '48' };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(48);
      expect(configDeprecations(env)).toHaveLength(1);
    });

    it('refuses to start, in one line, when both names are set to different values', () => {
      let caught: unknown;
      try {
        loadConfig({ COMMAND_RETENTION_HOURS: '48', PROCESSED_RETENTION_HOURS: '72' });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).problems).toEqual([
        'PROCESSED_RETENTION_HOURS: deprecated name of COMMAND_RETENTION_HOURS, set to another value: set COMMAND_RETENTION_HOURS alone',
      ]);
    });
  });
});
