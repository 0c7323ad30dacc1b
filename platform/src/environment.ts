import type { z } from 'zod';

/** A bad environment: one readable line per variable, for the process to print before it exits. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment with `schema` into a frozen object, or throws a ConfigError naming each
 * bad variable. An empty variable (`FOO=` in a .env file) means "use the default", as in compose.
 */
export function parseEnvironment<T>(
  schema: z.ZodType<T>,
  env: Record<string, string | undefined>,
): Readonly<T> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    );
  }
  return Object.freeze(result.data);
}
