/** Runs every release (stop, drop, delete) to the end, then reports the ones that failed. */
export async function releaseAll(releases: (Promise<unknown> | undefined)[]): Promise<void> {
  // A release that was never started (its resource was never made) has nothing to report.
  const started = releases.filter((release) => release !== undefined);
  const outcomes = await Promise.allSettled(started);
  const errors = outcomes.flatMap((outcome): unknown[] =>
    outcome.status === 'rejected' ? [outcome.reason] : [],
  );
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several releases failed');
}

/**
 * What a run made and must remove again, whatever happens to it: for a caller that makes things
 * one after the other and may be cut short (the bench), rather than a test's afterAll.
 */
export interface Cleanup {
  add(what: string, release: () => Promise<unknown>): void;
  /** Runs every release, newest first, and returns the ones that failed. */
  releaseAll(): Promise<string[]>;
}

export function createCleanup(): Cleanup {
  const releases: { what: string; release: () => Promise<unknown> }[] = [];
  return {
    add(what, release) {
      releases.push({ what, release });
    },
    async releaseAll() {
      const failures: string[] = [];
      // One at a time and in reverse, so a producer is gone before its vhost is deleted.
      for (const { what, release } of releases.splice(0).reverse()) {
        try {
          await release();
        } catch (error) {
          failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return failures;
    },
  };
}
