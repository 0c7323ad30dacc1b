import path from 'node:path';

/** The repository root, seen from bench/dist. */
export const REPO_ROOT = path.resolve(__dirname, '../..');

export const ENTRY_POINTS = {
  producer: path.join(REPO_ROOT, 'producer/dist/main.js'),
  consumer: path.join(REPO_ROOT, 'consumer/dist/main.js'),
  baseline: path.join(REPO_ROOT, 'bench/dist/baseline/main.js'),
} as const;
