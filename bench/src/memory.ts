import { readFile } from 'node:fs/promises';

export type ProcessName = 'producer' | 'consumer' | 'baseline';

/** One way to read a process's resident set size, in bytes (`null` when it cannot be read). */
export interface MemoryProbe {
  process: ProcessName;
  intervalMs: number;
  read(): Promise<number | null>;
}

/** A child of ours: /proc is cheap to read, so it is read often. */
export function procProbe(process: ProcessName, pid: number): MemoryProbe {
  return {
    process,
    intervalMs: 200,
    async read() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
      return match ? Number(match[1]) * 1024 : null;
    },
  };
}

/**
 * A process elsewhere, through its Prometheus endpoint. Each scrape costs the target some CPU,
 * so it is read once a second only.
 */
export function metricsProbe(process: ProcessName, metricsUrl: string): MemoryProbe {
  return {
    process,
    intervalMs: 1_000,
    async read() {
      try {
        const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) });
        const match = /^process_resident_memory_bytes(?:\{[^}]*\})? (\S+)$/m.exec(
          await response.text(),
        );
        return match ? Number(match[1]) : null;
      } catch {
        return null;
      }
    },
  };
}

export type MemoryPeaks = Partial<Record<ProcessName, number>>;

/** Samples every probe until `stop`, which resolves with the highest reading of each. */
export function samplePeakMemory(probes: readonly MemoryProbe[]): { stop(): Promise<MemoryPeaks> } {
  const peaks: MemoryPeaks = {};
  const pending = new Set<Promise<void>>();
  const sample = (probe: MemoryProbe) => {
    const reading = probe.read().then((bytes) => {
      if (bytes !== null) peaks[probe.process] = Math.max(peaks[probe.process] ?? 0, bytes);
    });
    pending.add(reading);
    void reading.finally(() => pending.delete(reading));
  };
  const timers = probes.map((probe) => {
    sample(probe);
    return setInterval(() => sample(probe), probe.intervalMs);
  });
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(pending);
      return peaks;
    },
  };
}
