/** What the bench created and must remove again, whatever happens to the run. */
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
