import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config';

describe('producer loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      PORT: 5000,
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      RPC_TIMEOUT_MS: 10_000,
      MYSQL_HOST: '127.0.0.1',
      MYSQL_PORT: 3306,
      MYSQL_USER: 'root',
      MYSQL_PASSWORD: '',
      MYSQL_DATABASE: 'subscriptions',
      READ_POOL_SIZE: 8,
      LOG_LEVEL: 'info',
    });
  });

  it('reads numbers from strings', () => {
    expect(loadConfig({ PORT: '8080', RPC_TIMEOUT_MS: '2500' })).toMatchObject({
      PORT: 8080,
      RPC_TIMEOUT_MS: 2500,
    });
  });

  it('names every bad variable on a line of its own', () => {
    expect(() => loadConfig({ PORT: '99999', LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: '99999', LOG_LEVEL: 'loud' });
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^PORT: /);
      expect(problems[1]).toMatch(/^LOG_LEVEL: /);
    }
  });
});
