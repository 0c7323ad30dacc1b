/** The consumer's batch counters at one moment (its `subscriptions_batch_commands` histogram). */
interface BatchTotals {
  commands: number;
  batches: number;
  seconds: number;
}

async function readTotals(metricsUrl: string): Promise<BatchTotals | null> {
  const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) }).catch(
    () => null,
  );
  if (!response?.ok) return null;
  const text = await response.text();
  const value = (name: string) =>
    Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    commands: value('subscriptions_batch_commands_sum'),
    batches: value('subscriptions_batch_commands_count'),
    seconds: value('subscriptions_batch_duration_seconds_sum'),
  };
}

/**
 * How many commands the consumer applied per transaction during a cell, on average: how well
 * group commit worked under that load.
 */
export async function watchBatches(metricsUrl: string) {
  const before = await readTotals(metricsUrl);
  return {
    /** Mean commands per batch and mean ms per batch since the watch began. */
    async means(): Promise<{ commands: number; ms: number } | undefined> {
      const after = await readTotals(metricsUrl);
      if (!before || !after) return undefined;
      const batches = after.batches - before.batches;
      if (!(batches > 0)) return undefined;
      return {
        commands: (after.commands - before.commands) / batches,
        ms: ((after.seconds - before.seconds) * 1000) / batches,
      };
    },
  };
}
