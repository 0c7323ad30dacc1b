import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  configDeprecations,
  DEVELOPMENT_JWT_SECRET,
  loadConfig,
  usesDevelopmentSecret,
  usesIdentityProvider,
} from '../../src/config';

describe('producer loadConfig', () => {
  it('uses the documented defaults when auth is explicitly off', () => {
    expect(loadConfig({ AUTH_DISABLED: 'true' })).toEqual({
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
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_SDK_DISABLED: false,
      AUTH_DISABLED: true,
      AUTH_USER_ID_CLAIM: 'sub',
      AUTH_CLOCK_TOLERANCE_SECONDS: 5,
      COMMAND_RETENTION_HOURS: 24,
      RATE_LIMIT_PER_MINUTE: 3000,
    });
  });

  it('refuses to start with neither a secret, an identity provider nor AUTH_DISABLED=true, in one line that says why', () => {
    expect(() => loadConfig({})).toThrow(
      /^invalid configuration:\nAUTH_JWT_SECRET: required: set a secret of at least 32 bytes, or an identity provider \(AUTH_ISSUER as its URL, with AUTH_AUDIENCE\), to turn auth on; or AUTH_DISABLED=true to run without auth$/,
    );
    // An issuer that is not a URL only names the `iss` of HS256 tokens: it brings no keys.
    expect(() => loadConfig({ AUTH_ISSUER: 'subscriptions-tools' })).toThrow(
      /AUTH_JWT_SECRET: required/,
    );
  });

  it('turns auth on without a secret when keys come from an identity provider, by discovery or a key set URL', () => {
    const discovered = loadConfig({
      AUTH_ISSUER: 'https://login.example.com/realms/shop',
      AUTH_AUDIENCE: 'subscriptions-api',
    });
    expect(discovered).toMatchObject({ AUTH_DISABLED: false, AUTH_USER_ID_CLAIM: 'sub' });
    expect(discovered.AUTH_JWT_SECRET).toBeUndefined();
    expect(usesIdentityProvider(discovered)).toBe(true);
    const listed = loadConfig({
      AUTH_ISSUER: 'shop-idp',
      AUTH_JWKS_URL: 'http://127.0.0.1:8080/keys',
      AUTH_AUDIENCE: 'subscriptions-api',
      AUTH_USER_ID_CLAIM: 'https://subscriptions.example.com/user_id',
    });
    expect(usesIdentityProvider(listed)).toBe(true);
    expect(listed.AUTH_USER_ID_CLAIM).toBe('https://subscriptions.example.com/user_id');
    expect(usesIdentityProvider(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(32) }))).toBe(false);
  });

  it('accepts a secret and an identity provider at once', () => {
    const both = loadConfig({
      AUTH_JWT_SECRET: 'x'.repeat(32),
      AUTH_ISSUER: 'https://tenant.eu.auth0.com/',
      AUTH_AUDIENCE: 'https://subscriptions.example.com',
    });
    expect(both.AUTH_JWT_SECRET).toBe('x'.repeat(32));
    expect(usesIdentityProvider(both)).toBe(true);
  });

  it('names each bad combination of identity provider settings on a line of its own', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as ConfigError).problems;
      }
      return [];
    };
    expect(problemsOf({ AUTH_ISSUER: 'https://login.example.com' })).toEqual([
      'AUTH_AUDIENCE: required when keys come from an identity provider (AUTH_ISSUER is a URL or AUTH_JWKS_URL is set): the "aud" its tokens carry for this API',
    ]);
    expect(problemsOf({ AUTH_JWKS_URL: 'https://login.example.com/keys' })).toEqual([
      'AUTH_ISSUER: required with AUTH_JWKS_URL: the "iss" of the provider\'s tokens',
      'AUTH_AUDIENCE: required when keys come from an identity provider (AUTH_ISSUER is a URL or AUTH_JWKS_URL is set): the "aud" its tokens carry for this API',
    ]);
    expect(problemsOf({ AUTH_ISSUER: 'https://', AUTH_AUDIENCE: 'api' })).toEqual([
      'AUTH_ISSUER: is not a valid URL',
    ]);
    expect(
      problemsOf({ AUTH_ISSUER: 'idp', AUTH_JWKS_URL: 'ftp://keys', AUTH_AUDIENCE: 'api' }),
    ).toEqual(['AUTH_JWKS_URL: must be an http:// or https:// URL']);
  });

  it('ignores the identity provider settings while auth is off', () => {
    expect(
      loadConfig({ AUTH_DISABLED: 'true', AUTH_ISSUER: 'https://login.example.com' }),
    ).toMatchObject({
      AUTH_DISABLED: true,
    });
  });

  it('refuses a secret shorter than 32 bytes, and an AUTH_DISABLED that is not a boolean', () => {
    try {
      loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(31), AUTH_DISABLED: 'yes' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'AUTH_JWT_SECRET: must be at least 32 bytes',
        'AUTH_DISABLED: must be true or false',
      ]);
    }
  });

  it('turns auth on with a secret of 32 bytes or more', () => {
    const config = loadConfig({ AUTH_JWT_SECRET: 'é'.repeat(16) });
    expect(config.AUTH_DISABLED).toBe(false);
    expect(config.AUTH_JWT_SECRET).toHaveLength(16);
  });

  it('reads numbers from strings', () => {
    expect(
      loadConfig({ AUTH_DISABLED: 'true', PORT: '8080', RPC_TIMEOUT_MS: '2500' }),
    ).toMatchObject({
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

  it('accepts several brokers of one cluster as a comma-separated list', () => {
    const list = 'amqp://app:pw@rabbit-1:5672, amqp://app:pw@rabbit-2:5672,amqps://app:pw@rabbit-3';
    expect(loadConfig({ AUTH_DISABLED: 'true', AMQP_URL: list }).AMQP_URL).toBe(list);
  });

  it('names each bad entry of the broker list on a line of its own', () => {
    try {
      loadConfig({ AUTH_DISABLED: 'true', AMQP_URL: 'amqp://rabbit-1,http://x,,amqp://rabbit-4' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'AMQP_URL: entry 2 "http://x" is not an amqp:// or amqps:// URL',
        'AMQP_URL: entry 3 is empty',
      ]);
    }
  });

  it('recognises the public development secret when auth signs with it', () => {
    expect(usesDevelopmentSecret(loadConfig({ AUTH_JWT_SECRET: DEVELOPMENT_JWT_SECRET }))).toBe(
      true,
    );
  });

  it('does not flag a secret of your own, nor a development secret that auth does not use', () => {
    const ownSecret = loadConfig({ AUTH_JWT_SECRET: `${DEVELOPMENT_JWT_SECRET}-mine` });
    const authOff = loadConfig({ AUTH_JWT_SECRET: DEVELOPMENT_JWT_SECRET, AUTH_DISABLED: 'true' });
    expect(usesDevelopmentSecret(ownSecret)).toBe(false);
    expect(usesDevelopmentSecret(authOff)).toBe(false);
    expect(usesDevelopmentSecret(loadConfig({ AUTH_DISABLED: 'true' }))).toBe(false);
  });

  describe('the retention of command records', () => {
    it('reads COMMAND_RETENTION_HOURS, with nothing deprecated to log', () => {
      const env = { AUTH_DISABLED: 'true', COMMAND_RETENTION_HOURS: '72' };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(72);
      expect(configDeprecations(env)).toEqual([]);
    });

    it('reads the old name, PROCESSED_RETENTION_HOURS, set alone, and calls it deprecated', () => {
      const env = { AUTH_DISABLED: 'true', PROCESSED_RETENTION_HOURS: '48' };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(48);
      expect(configDeprecations(env)).toEqual([
        'PROCESSED_RETENTION_HOURS is deprecated, read as COMMAND_RETENTION_HOURS: set that instead',
      ]);
    });

    it('takes both names set alike as one value', () => {
      const env = {
        AUTH_DISABLED: 'true',
        COMMAND_RETENTION_HOURS: '48',
        PROCESSED_RETENTION_HOURS: '48',
      };
      expect(loadConfig(env).COMMAND_RETENTION_HOURS).toBe(48);
      expect(configDeprecations(env)).toHaveLength(1);
    });

    it('refuses to start, in one line, when both names are set to different values', () => {
      let caught: unknown;
      try {
        loadConfig({
          AUTH_DISABLED: 'true',
          COMMAND_RETENTION_HOURS: '48',
          PROCESSED_RETENTION_HOURS: '72',
        });
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
