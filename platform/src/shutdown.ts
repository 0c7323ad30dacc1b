import type { Logger } from 'pino';

export interface ShutdownStep {
  /** Named in the log if the step fails or overruns, e.g. `broker connection`. */
  name: string;
  close(): unknown;
  /** Longest this step may take; defaults to the sequence's `timeoutMs`. */
  timeoutMs?: number;
}

const OVERRUN = Symbol('overrun');

/**
 * Runs the steps one after the other, each once the one before has finished: stop taking work,
 * finish what is in hand, then close channel, connection and pool. A step that fails or overruns
 * is logged and left behind so that the later ones still run: a broker that does not answer must
 * not keep the database pool open. Resolves true when every step finished in time.
 */
export async function closeInOrder(
  steps: readonly ShutdownStep[],
  options: { logger: Logger; timeoutMs: number },
): Promise<boolean> {
  const { logger } = options;
  let clean = true;
  for (const step of steps) {
    const timeoutMs = step.timeoutMs ?? options.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<typeof OVERRUN>((resolve) => {
      timer = setTimeout(() => resolve(OVERRUN), timeoutMs);
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => step.close()), overrun]);
      if (outcome === OVERRUN) {
        clean = false;
        logger.warn({ step: step.name, timeout_ms: timeoutMs }, 'shutdown step overran, going on');
      }
    } catch (error) {
      clean = false;
      logger.warn({ err: error, step: step.name }, 'shutdown step failed, going on');
    } finally {
      clearTimeout(timer);
    }
  }
  return clean;
}
