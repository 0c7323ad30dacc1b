/**
 * Settings of a property test, with its seed always explicit: fast-check prints seed and path of
 * a failing case, and `FUZZ_SEED` (with `FUZZ_PATH`) replays exactly that case. `FUZZ_RUNS` digs
 * deeper.
 */
export function fuzzParameters(defaultRuns: number): {
  numRuns: number;
  seed: number;
  path?: string;
} {
  const path = process.env['FUZZ_PATH'];
  return {
    numRuns: Number(process.env['FUZZ_RUNS'] || defaultRuns),
    seed: Number(process.env['FUZZ_SEED'] || Math.floor(Math.random() * 2 ** 31)),
    ...(path ? { path } : {}),
  };
}
