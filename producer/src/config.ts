import {
  LOG_LEVELS,
  brokerUrlsSchema,
  deprecatedVariables,
  parseEnvironment,
  readRenamedVariables,
} from '@subscriptions/platform';
import { z } from 'zod';

/**
 * The secret `.env.example` and `docker-compose.yml` ship so that a fresh clone runs with auth on.
 * It is public, so anyone can sign tokens with it: the producer warns when it is in use.
 */
export const DEVELOPMENT_JWT_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(5000),
  /** One broker URL, or several brokers of one cluster separated by commas. */
  AMQP_URL: brokerUrlsSchema.default('amqp://guest:guest@127.0.0.1:5672'),
  RPC_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  MYSQL_HOST: z.string().min(1).default('127.0.0.1'),
  MYSQL_PORT: z.coerce.number().int().min(1).max(65535).default(3306),
  MYSQL_USER: z.string().min(1).default('root'),
  MYSQL_PASSWORD: z.string().default(''),
  MYSQL_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and underscores, at most 64')
    .default('subscriptions'),
  /** Connections of the read-only pool behind the GET routes. */
  READ_POOL_SIZE: z.coerce.number().int().min(1).max(256).default(8),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** HS256 secret of the bearer tokens; setting it turns auth on. */
  AUTH_JWT_SECRET: z
    .string()
    .refine((secret) => Buffer.byteLength(secret) >= 32, 'must be at least 32 bytes')
    .optional(),
  /** `true` runs without auth: every caller acts as admin. Never in production. */
  AUTH_DISABLED: z
    .enum(['true', 'false'], 'must be true or false')
    .default('false')
    .transform((value) => value === 'true'),
  /** Checked against the token's `iss` / `aud` when set. */
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  /** Seconds of clock skew allowed on `exp` and `nbf`. */
  AUTH_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  /** How long the consumer keeps command records and Idempotency-Keys: set alike on both. */
  COMMAND_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(24)
    .max(24 * 90)
    .default(24),
  /** Requests per minute per token subject (or client IP without a token); 0 turns it off. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(3000),
});

export { ConfigError } from '@subscriptions/platform';

export type Config = Readonly<z.infer<typeof configSchema>>;

/** Old names still read for a while, each as its new one. */
const RENAMED = [{ oldName: 'PROCESSED_RETENTION_HOURS', newName: 'COMMAND_RETENTION_HOURS' }];

/** Every variable the process reads. */
export const CONFIG_KEYS = [
  ...Object.keys(configSchema.shape),
  ...RENAMED.map(({ oldName }) => oldName),
];

/** Parses the environment once, at start; a bad value fails with one line per variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const schema = configSchema.refine(
    (config) => config.AUTH_DISABLED || config.AUTH_JWT_SECRET !== undefined,
    {
      path: ['AUTH_JWT_SECRET'],
      message:
        'required: set a secret of at least 32 bytes to turn auth on, or AUTH_DISABLED=true to run without auth',
    },
  );
  return parseEnvironment(schema, readRenamedVariables(env, RENAMED));
}

/** A line to log at start for each deprecated name the environment still sets. */
export function configDeprecations(env: Record<string, string | undefined>): string[] {
  return deprecatedVariables(env, RENAMED);
}

/** True when auth is on and its tokens are signed with the public development secret. */
export function usesDevelopmentSecret(config: Config): boolean {
  return !config.AUTH_DISABLED && config.AUTH_JWT_SECRET === DEVELOPMENT_JWT_SECRET;
}
