import { ConfigError } from './environment';

/**
 * What a program prints when it fails before it could do its work: one line per bad variable,
 * which says what to fix, or else the error. A service prints it with its stack; a one-shot
 * command (`stack: false`) prints its message alone, as the line its user acts on.
 */
export function reportStartFailure(
  service: string,
  error: unknown,
  options: { print?: (...values: unknown[]) => void; stack?: boolean } = {},
): void {
  const { print = console.error, stack = true } = options;
  if (error instanceof ConfigError) {
    for (const problem of error.problems) print(`${service}: ${problem}`);
  } else if (stack) {
    print(`${service}: failed to start:`, error);
  } else {
    print(`${service}: failed:`, error instanceof Error ? error.message : error);
  }
}
