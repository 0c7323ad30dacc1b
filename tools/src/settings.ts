import { brokerUrlsSchema, parseEnvironment } from '@subscriptions/platform';
import { z } from 'zod';

type Environment = Record<string, string | undefined>;

/** The producer's token settings, read by its rules, so that what the tools sign it accepts. */
const signingShape = {
  AUTH_JWT_SECRET: z
    .string()
    .refine((secret) => Buffer.byteLength(secret) >= 32, 'must be at least 32 bytes')
    .optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
};

const tokenSchema = z.object(signingShape);

const walkthroughSchema = z.object({
  BASE_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:5000'),
  LIFECYCLE_USER_ID: z.coerce.number().int().positive().default(1),
  /** A token to send as it is, e.g. an identity provider's admin token; it wins over signing. */
  BEARER_TOKEN: z.string().min(1).optional(),
  ...signingShape,
});

/** The broker as the services read it: one URL, or several of one cluster. */
const eventsSchema = z.object({
  AMQP_URL: brokerUrlsSchema.default('amqp://guest:guest@127.0.0.1:5672'),
});

export type TokenSettings = Readonly<z.infer<typeof tokenSchema>>;
export type WalkthroughSettings = Readonly<z.infer<typeof walkthroughSchema>>;
export type EventsSettings = Readonly<z.infer<typeof eventsSchema>>;

/** Every variable a tool reads. */
export const SETTING_KEYS = [
  ...Object.keys(walkthroughSchema.shape),
  ...Object.keys(eventsSchema.shape),
];

export function readTokenSettings(env: Environment): TokenSettings {
  return parseEnvironment(tokenSchema, env);
}

export function readWalkthroughSettings(env: Environment): WalkthroughSettings {
  return parseEnvironment(walkthroughSchema, env);
}

export function readEventsSettings(env: Environment): EventsSettings {
  return parseEnvironment(eventsSchema, env);
}
