/** How often the newest accepted command is read while the backlog drains. */
const POLL_INTERVAL_MS = 25;
/** A backlog still pending after this long is reported as not drained. */
const DRAIN_TIMEOUT_MS = 300_000;

/**
 * The asynchronous purchases a cell left behind. Commands of one queue are applied in the order
 * they were accepted, so once the newest one reads `completed`, the backlog has drained (up to
 * the few commands a consumer works on at once).
 */
interface Backlog {
  accepted(location: string): void;
  /** Milliseconds from now until the newest accepted command completed; NaN past the timeout. */
  drain(signal: AbortSignal): Promise<number>;
}

export function createBacklog(baseUrl: string, headers: Record<string, string>): Backlog {
  let newest: string | undefined;
  return {
    accepted(location) {
      newest = location;
    },
    async drain(signal) {
      const started = performance.now();
      const location = newest;
      newest = undefined;
      if (location === undefined) return 0;
      while (performance.now() - started < DRAIN_TIMEOUT_MS && !signal.aborted) {
        const response = await fetch(`${baseUrl}${location}`, {
          headers,
          signal: AbortSignal.timeout(10_000),
        });
        const command = (await response.json()) as { state?: unknown };
        if (command.state === 'completed') return performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
      return Number.NaN;
    },
  };
}
