import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CONFIG_KEYS as consumerKeys } from '../../consumer/src/config';
import { CONFIG_KEYS as producerKeys } from '../../producer/src/config';
import { SETTING_KEYS as toolKeys } from '../../tools/src/settings';

/** docs/configuration.md promises every variable of every process: one added without it fails. */

const ROOT = path.resolve(__dirname, '../..');

function readRootFile(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

const page = readRootFile('docs/configuration.md');

function undocumented(keys: Iterable<string>): string[] {
  return [...new Set(keys)].filter((key) => !page.includes(`\`${key}\``)).sort();
}

describe('docs/configuration.md', () => {
  it("names every variable the producer's, the consumer's and the tools' configs read", () => {
    expect(undocumented([...producerKeys, ...consumerKeys, ...toolKeys])).toEqual([]);
  });

  it('names every variable of .env.example and every ${VAR} of the compose files', () => {
    const envExample = [...readRootFile('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)];
    const composeFiles = [
      'docker-compose.yml',
      'docker-compose.override.yml',
      'docker-compose.cluster.yml',
    ];
    // Comments name `${VAR:-default}` as the syntax, not as a variable.
    const composed = composeFiles.flatMap((file) => [
      ...readRootFile(file)
        .replace(/^\s*#.*$/gm, '')
        .matchAll(/\$\{([A-Z][A-Z0-9_]*)/g),
    ]);
    const keys = [...envExample, ...composed].map((match) => match[1] ?? '');
    expect(keys.length).toBeGreaterThan(20);
    expect(undocumented(keys)).toEqual([]);
  });
});
