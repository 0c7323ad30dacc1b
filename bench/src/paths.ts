import path from 'node:path';

/** The repository root, seen from bench/src. */
export const REPO_ROOT = path.resolve(__dirname, '../..');

/**
 * The baseline server, built by `tsc -b` and run as plain JavaScript, as the producer is: both
 * run as deployed, with no TypeScript loader in either process.
 */
export const BASELINE_ENTRY = path.join(REPO_ROOT, 'bench/baseline/dist/main.js');
