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

/** A variable given a new name: the old one is still read for a while, and called deprecated. */
export interface RenamedVariable {
  oldName: string;
  newName: string;
}

type Environment = Record<string, string | undefined>;

/**
 * The environment with each renamed variable under its new name: the old name alone stands for
 * it, and both set alike are one. Both set to different values is a ConfigError, as nothing says
 * which one is meant (the values stay out of the message: a renamed secret must not leak).
 */
export function readRenamedVariables(
  env: Environment,
  renamed: readonly RenamedVariable[],
): Environment {
  const read = { ...env };
  const problems: string[] = [];
  for (const { oldName, newName } of renamed) {
    const old = env[oldName] || undefined;
    const current = env[newName] || undefined;
    delete read[oldName];
    if (old === undefined) continue;
    if (current === undefined) read[newName] = old;
    else if (current !== old) {
      problems.push(
        `${oldName}: deprecated name of ${newName}, set to another value: set ${newName} alone`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return read;
}

/** One line for each old name the environment still sets, for the process to log at start. */
export function deprecatedVariables(
  env: Environment,
  renamed: readonly RenamedVariable[],
): string[] {
  return renamed
    .filter(({ oldName }) => env[oldName])
    .map(
      ({ oldName, newName }) => `${oldName} is deprecated, read as ${newName}: set that instead`,
    );
}
