import dotenv from 'dotenv';
import { describeUnreachable, isUnreachable } from '@subscriptions/platform';
import { z } from 'zod';
import { runLifecycle } from './lifecycle/run-lifecycle';
import { signToken } from './tokens';

const optionsSchema = z.object({
  BASE_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:5000'),
  LIFECYCLE_USER_ID: z.coerce.number().int().positive().default(1),
  /** When set, the script signs its own short-lived admin token, as the producer expects. */
  AUTH_JWT_SECRET: z.string().min(32).optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
});

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const parsed = optionsSchema.safeParse(
    Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')),
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      console.error(`lifecycle: ${issue.path.join('.')}: ${issue.message}`);
    }
    process.exit(1);
  }
  const { BASE_URL, LIFECYCLE_USER_ID, AUTH_JWT_SECRET, AUTH_ISSUER, AUTH_AUDIENCE } = parsed.data;
  const token = AUTH_JWT_SECRET
    ? await signToken({
        secret: AUTH_JWT_SECRET,
        userId: LIFECYCLE_USER_ID,
        admin: true,
        ttlSeconds: 300,
        issuer: AUTH_ISSUER,
        audience: AUTH_AUDIENCE,
      })
    : undefined;
  console.log(`Lifecycle against ${BASE_URL}${token ? ' (with an admin token)' : ''}`);
  try {
    const passed = await runLifecycle({
      baseUrl: BASE_URL,
      userId: LIFECYCLE_USER_ID,
      token,
      print: (line) => console.log(line),
    });
    process.exit(passed ? 0 : 1);
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    const hint = describeUnreachable({
      service: 'the producer',
      address: new URL(BASE_URL).origin,
      variables: ['BASE_URL'],
      remedy: 'Start the service first: `npm start`, or `docker compose up -d` (API on port 5000).',
      error,
    });
    console.error(`lifecycle: ${hint}`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(`lifecycle: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
