import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';

/**
 * The README and the pages of docs/ link to each other by relative paths and heading anchors;
 * a page renamed or a heading reworded breaks them silently, so every one is resolved here.
 */

const ROOT = path.resolve(__dirname, '../..');
const README = 'README.md';
const MAX_README_LINES = 250;
/** 25 KB. */
const MAX_README_BYTES = 25_000;
const MAX_README_LINE_LENGTH = 120;

interface Line {
  number: number;
  text: string;
}

/** README.md and every Markdown file under docs/, relative to the root, with `/` separators. */
function markdownFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const file = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return walk(file);
      return entry.name.endsWith('.md') ? [file] : [];
    });
  return [README, ...walk('docs')];
}

function readRootFile(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

/** The lines outside fenced code blocks (``` or ~~~, indented up to three spaces or in a list). */
function proseLines(text: string): Line[] {
  const lines: Line[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
    } else if (fence !== undefined) {
      const closing = /^\s*(`{3,}|~{3,})\s*$/.exec(line)?.[1];
      if (closing !== undefined && closing[0] === fence[0] && closing.length >= fence.length) {
        fence = undefined;
      }
    } else {
      lines.push({ number: index + 1, text: line });
    }
  });
  return lines;
}

/** The line with its inline code spans removed: a link written as code is an example. */
function withoutInlineCode(text: string): string {
  return text.replace(/(`+)[\s\S]*?\1/g, '');
}

/**
 * GitHub's anchor for a heading: its text lowercased, every character that is not a letter, a
 * digit, a space, a hyphen or an underscore dropped, spaces turned into hyphens.
 */
function slugOf(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .replace(/<[^>]+>/g, '');
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a file's headings make; a repeated heading gets -1, -2, ... as on GitHub. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const slug = slugOf(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

interface Link {
  line: number;
  text: string;
  target: string;
}

/** The relative links of a file: `[text](path)`, `[text](path#anchor)`, `[text](#anchor)`. */
function relativeLinksOf(markdown: string): Link[] {
  const links: Link[] = [];
  for (const { number, text } of proseLines(markdown)) {
    for (const match of withoutInlineCode(text).matchAll(/\[([^\]]*)\]\(\s*<?([^)\s>]+)>?/g)) {
      const target = match[2] ?? '';
      // A scheme (http:, https:, mailto:) is another site's business.
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      links.push({ line: number, text: match[1] ?? '', target });
    }
  }
  return links;
}

/** What the checker reads: the repository on disk, or a few pages made up by a test. */
interface Tree {
  read(file: string): string;
  exists(file: string): boolean;
  isDirectory(file: string): boolean;
}

const DISK: Tree = {
  read: readRootFile,
  exists: (file) => existsSync(path.join(ROOT, file)),
  isDirectory: (file) => statSync(path.join(ROOT, file)).isDirectory(),
};

/** One line per link that does not resolve: `file:line: [text](target): why`. */
function brokenLinks(files: readonly string[], tree: Tree): string[] {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) {
      anchors = anchorsOf(tree.read(file));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };
  return files.flatMap((file) =>
    relativeLinksOf(tree.read(file)).flatMap(({ line, text, target }) => {
      const where = `${file}:${line}: [${text}](${target})`;
      const [linkPath = '', anchor] = target.split('#', 2);
      const targetFile =
        linkPath === ''
          ? file
          : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURI(linkPath)));
      if (targetFile.startsWith('..')) return [`${where}: points outside the repository`];
      if (!tree.exists(targetFile)) return [`${where}: ${targetFile} does not exist`];
      if (anchor === undefined) return [];
      if (tree.isDirectory(targetFile) || !targetFile.endsWith('.md')) {
        return [`${where}: ${targetFile} is not a Markdown file, so it has no #${anchor}`];
      }
      return anchorsIn(targetFile).has(decodeURIComponent(anchor))
        ? []
        : [`${where}: ${targetFile} has no heading whose anchor is #${anchor}`];
    }),
  );
}

describe('the links of the README and docs/', () => {
  it('every relative link names a file that exists, and every #anchor a heading of that file', () => {
    const files = markdownFiles();
    expect(files.length).toBeGreaterThan(5);
    expect(brokenLinks(files, DISK)).toEqual([]);
  });

  it('docs/README.md links every page of docs/', () => {
    const indexed = new Set(
      relativeLinksOf(readRootFile('docs/README.md')).map(
        ({ target }) => `docs/${target.split('#')[0] ?? ''}`,
      ),
    );
    const pages = markdownFiles().filter((file) => file.startsWith('docs/'));
    const missing = pages.filter((file) => file !== 'docs/README.md' && !indexed.has(file));
    expect(missing).toEqual([]);
  });
});

describe('the link checker', () => {
  const pages: Record<string, string> = {
    'README.md': [
      '# Title',
      '## Run it: `npm start`',
      '## Notes',
      '## Notes',
      'See [run](#run-it-npm-start), [the second notes](#notes-1) and [the page](docs/page.md#a-b_c).',
      '`[code](missing.md)` is an example, as is [a site](https://example.com/x#y).',
      '```',
      '[fenced](missing.md)',
      '```',
      'Broken: [gone](docs/gone.md), [no heading](docs/page.md#nowhere), [here](#absent).',
    ].join('\n'),
    'docs/page.md': '# A, B_C!\n\nBack to the [README](../README.md#title).\n',
  };
  const read = (file: string) => pages[file] ?? '';
  const fixture: Tree = {
    read,
    exists: (file) =>
      file in pages || Object.keys(pages).some((page) => page.startsWith(`${file}/`)),
    isDirectory: (file) => !(file in pages),
  };

  it('names each broken link with its file and line, and nothing else', () => {
    expect(brokenLinks(Object.keys(pages), fixture)).toEqual([
      'README.md:10: [gone](docs/gone.md): docs/gone.md does not exist',
      'README.md:10: [no heading](docs/page.md#nowhere): docs/page.md has no heading whose anchor is #nowhere',
      'README.md:10: [here](#absent): README.md has no heading whose anchor is #absent',
    ]);
  });

  it('makes anchors as GitHub does', () => {
    expect([...anchorsOf(read('README.md'))]).toEqual([
      'title',
      'run-it-npm-start',
      'notes',
      'notes-1',
    ]);
    expect(slugOf('A RabbitMQ cluster: `docker-compose.cluster.yml`')).toBe(
      'a-rabbitmq-cluster-docker-composeclusteryml',
    );
    expect(slugOf('23. Asynchronous commands: signed ids')).toBe(
      '23-asynchronous-commands-signed-ids',
    );
  });

  it('skips links in code and to other sites', () => {
    expect(relativeLinksOf(read('README.md')).map(({ target }) => target)).toEqual([
      '#run-it-npm-start',
      '#notes-1',
      'docs/page.md#a-b_c',
      'docs/gone.md',
      'docs/page.md#nowhere',
      '#absent',
    ]);
  });
});

describe('the README', () => {
  const text = readRootFile(README);

  it(`fits on a screen: at most ${MAX_README_LINES} lines and ${MAX_README_BYTES} bytes`, () => {
    const lineCount = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    expect(lineCount).toBeLessThanOrEqual(MAX_README_LINES);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_README_BYTES);
  });

  it(`has no line over ${MAX_README_LINE_LENGTH} characters outside code blocks`, () => {
    const long = proseLines(text)
      .filter(({ text }) => [...text].length > MAX_README_LINE_LENGTH)
      .map(({ number, text }) => `README.md:${number}: ${[...text].length} characters`);
    expect(long).toEqual([]);
  });
});
