import { ConfigError } from './environment';

/**
 * What a service prints when it cannot start: one line per bad variable, which says what to fix,
 * or the error with its stack.
 */
export function reportStartFailure(
  service: string,
  error: unknown,
  print: (...values: unknown[]) => void = console.error,
): void {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) print(`${service}: ${problem}`);
  } else {
    print(`${service}: failed to start:`, error);
  }
}
