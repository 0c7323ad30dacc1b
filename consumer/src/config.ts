import {
  LOG_LEVELS,
  brokerUrlsSchema,
  deprecatedVariables,
  parseEnvironment,
  readRenamedVariables,
  tracingSchema,
} from '@subscriptions/platform/startup';
import { z } from 'zod';

const configSchema = z.object({
  /** One broker URL, or several brokers of one cluster separated by commas. */
  AMQP_URL: brokerUrlsSchema.default('amqp://guest:guest@127.0.0.1:5672'),
  MYSQL_HOST: z.string().min(1).default('127.0.0.1'),
  MYSQL_PORT: z.coerce.number().int().min(1).max(65535).default(3306),
  MYSQL_USER: z.string().min(1).default('root'),
  MYSQL_PASSWORD: z.string().default(''),
  MYSQL_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and underscores, at most 64')
    .default('subscriptions'),
  /**
   * Commands one consumer holds at once from each command queue (its prefetch, which RabbitMQ
   * applies to each of its subscriptions). Those that arrive together are applied
   * in one transaction, up to BATCH_SIZE each and CONSUMER_TRANSACTIONS at a time.
   */
  CONSUMER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(64),
  /**
   * Most transactions at once; a further one starts beside a running one only when a full batch
   * waits (batch-queue.ts). The MySQL pool has one more connection (for housekeeping).
   */
  CONSUMER_TRANSACTIONS: z.coerce.number().int().min(1).max(64).default(2),
  /** Most commands in one transaction; 1 turns group commit off. */
  BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(64),
  /**
   * Longest a batch that could start waits for more commands to join it, when commands come
   * together; it waits at most as long as recent batches took. 0 never waits.
   */
  BATCH_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(20),
  /** How long command records (and so Idempotency-Keys) are kept; the contract says 24 h at least. */
  COMMAND_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(24)
    .max(24 * 90)
    .default(24),
  /**
   * Whether this consumer takes part in publishing events (one consumer per database does at a
   * time). `false` publishes none, history and feed unchanged: for measuring what events cost.
   */
  EVENTS_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /** Port of /metrics, /healthz and /readyz; `0` picks a free one (logged as "metrics listening"). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** OpenTelemetry, by the specification's variables: off unless an OTLP endpoint is set. */
  ...tracingSchema.shape,
});

export { ConfigError } from '@subscriptions/platform/startup';

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
  return parseEnvironment(configSchema, readRenamedVariables(env, RENAMED));
}

/** A line to log at start for each deprecated name the environment still sets. */
export function configDeprecations(env: Record<string, string | undefined>): string[] {
  return deprecatedVariables(env, RENAMED);
}
