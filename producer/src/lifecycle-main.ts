import dotenv from 'dotenv';
import { z } from 'zod';
import { runLifecycle } from './lifecycle/run-lifecycle';

const optionsSchema = z.object({
  BASE_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:5000'),
  LIFECYCLE_USER_ID: z.coerce.number().int().positive().default(1),
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
  const { BASE_URL, LIFECYCLE_USER_ID } = parsed.data;
  console.log(`Lifecycle against ${BASE_URL}`);
  const passed = await runLifecycle({
    baseUrl: BASE_URL,
    userId: LIFECYCLE_USER_ID,
    print: (line) => console.log(line),
  });
  process.exit(passed ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(`lifecycle: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
