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

/** What `handleStopSignals` uses of the process: main.ts hands over `process` itself. */
export interface StoppableProcess {
  on(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

/**
 * On the first SIGTERM or SIGINT, runs `stop` (the process's shutdown, resolving whether every
 * step finished in time), logs that it stopped and exits: 0 when clean, 1 otherwise. A second
 * signal during the shutdown is ignored: the steps' time limits bound how long it takes.
 */
export function handleStopSignals(deps: {
  process: StoppableProcess;
  logger: Logger;
  stop: (signal: NodeJS.Signals) => Promise<boolean>;
}): void {
  const { process, logger, stop } = deps;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    void stop(signal)
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        return false;
      })
      .then((clean) => {
        logger.info('stopped');
        process.exit(clean ? 0 : 1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
