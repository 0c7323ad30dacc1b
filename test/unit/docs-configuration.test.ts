import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseOptions } from '../../bench/src/options';
import { CONFIG_KEYS as consumerKeys } from '../../consumer/src/config';
import { CONFIG_KEYS as producerKeys } from '../../producer/src/config';
import { SETTING_KEYS as toolKeys } from '../../tools/src/settings';

/**
 * docs/configuration.md promises every variable of every process, and only those: one added
 * without it fails, and so does one it still names after nothing reads it any more.
 */

const ROOT = path.resolve(__dirname, '../..');

function readRootFile(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

const page = readRootFile('docs/configuration.md');

function undocumented(keys: Iterable<string>): string[] {
  return [...new Set(keys)].filter((key) => !page.includes(`\`${key}\``)).sort();
}

const envExampleKeys = [...readRootFile('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map(
  (match) => match[1] ?? '',
);

const composeKeys = [
  'docker-compose.yml',
  'docker-compose.override.yml',
  'docker-compose.cluster.yml',
]
  // Comments name `${VAR:-default}` as the syntax, not as a variable.
  .flatMap((file) => [
    ...readRootFile(file)
      .replace(/^\s*#.*$/gm, '')
      .matchAll(/\$\{([A-Z][A-Z0-9_]*)/g),
  ])
  .map((match) => match[1] ?? '');

/** What the benchmark's options ask of the environment they are given. */
function benchKeys(): string[] {
  const asked = new Set<string>();
  const env = new Proxy<Record<string, string | undefined>>(
    {},
    {
      get(_target, name) {
        if (typeof name === 'string') asked.add(name);
        return undefined;
      },
    },
  );
  parseOptions([], env);
  return [...asked];
}

/** Every `process.env` name the test suites and their support code read. */
function testKeys(): string[] {
  const workspaceTests = readdirSync(ROOT)
    .map((folder) => path.join(folder, 'test'))
    .filter((folder) => existsSync(path.join(ROOT, folder)));
  const folders = ['test-support', 'test', 'e2e', ...workspaceTests];
  return folders.flatMap((folder) =>
    readdirSync(path.join(ROOT, folder), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => [
        ...readRootFile(path.join(folder, file)).matchAll(
          /process\.env(?:\[['"]([A-Z][A-Z0-9_]*)['"]\]|\.([A-Z][A-Z0-9_]*))/g,
        ),
      ])
      .map((match) => match[1] ?? match[2] ?? ''),
  );
}

/** The variable-like names the page puts in backticks: `NAME`, `NAME=value`, `PREFIX_*`. */
function namesOnPage(): string[] {
  return [...page.matchAll(/`([A-Z][A-Z0-9_]*\*?)(?:=[^`\n]*)?`/g)].map((match) => match[1] ?? '');
}

function unread(names: Iterable<string>, keys: Iterable<string>): string[] {
  const read = new Set(keys);
  return [...new Set(names)]
    .filter((name) =>
      name.endsWith('*')
        ? ![...read].some((key) => key.startsWith(name.slice(0, -1)))
        : !read.has(name),
    )
    .sort();
}

describe('docs/configuration.md', () => {
  it("names every variable the producer's, the consumer's and the tools' configs read", () => {
    expect(undocumented([...producerKeys, ...consumerKeys, ...toolKeys])).toEqual([]);
  });

  it('names every variable of .env.example and every ${VAR} of the compose files', () => {
    const keys = [...envExampleKeys, ...composeKeys];
    expect(keys.length).toBeGreaterThan(20);
    expect(undocumented(keys)).toEqual([]);
  });

  it('names no variable that nothing reads', () => {
    const keys = [
      ...producerKeys,
      ...consumerKeys,
      ...toolKeys,
      ...envExampleKeys,
      ...composeKeys,
      ...benchKeys(),
      ...testKeys(),
    ];
    expect(namesOnPage().length).toBeGreaterThan(40);
    expect(unread(namesOnPage(), keys)).toEqual([]);
  });
});
