import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { text } from './svg';

/**
 * `npm run bench:profile -- <file.cpuprofile> ...`: what a V8 CPU profile (written by
 * `npm run bench -- --spawn --profile <dir>`) spent its time on: the busy share of each package
 * or module of ours (self time, native calls charged to the JavaScript that made them), the
 * functions with the most self time, and a flame graph next to the profile (`.svg`).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)']);

/** Where a frame's code lives: a package, a module of ours, a part of Node, or nowhere (native). */
function placeOf(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  const ours = /\/(producer|consumer|platform|store|contracts)\/dist\/(.+?)(?:\.js)?$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return url.replace('node:internal/', 'node:');
  return '';
}

function nameOf(node: ProfileNode): string {
  const place = placeOf(node.callFrame.url);
  return `${node.callFrame.functionName || '(anonymous)'}${place ? ` (${place}:${node.callFrame.lineNumber + 1})` : ''}`;
}

async function summarise(file: string): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, index) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)),
  );

  let busy = 0;
  let total = 0;
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, micros] of self) {
    const node = byId.get(id) as ProfileNode;
    total += micros;
    if (IDLE.has(node.callFrame.functionName)) continue;
    busy += micros;
    // Native work and Node's own (socket writes, buffers, streams) is charged to the nearest
    // package or module of ours that caused it: that is where it could be saved.
    let key = '';
    let fallback = '';
    for (let up: number | undefined = id; !key && up !== undefined; up = parent.get(up)) {
      const place = placeOf((byId.get(up) as ProfileNode).callFrame.url);
      if (place.startsWith('node:')) fallback ||= place;
      else if (place) key = place;
    }
    key ||= fallback || (node.callFrame.functionName === '(garbage collector)' ? '(gc)' : '(root)');
    byPlace.set(key, (byPlace.get(key) ?? 0) + micros);
    byFunction.set(nameOf(node), (byFunction.get(nameOf(node)) ?? 0) + micros);
  }
  const share = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`;
  const top = (map: Map<string, number>, count: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, micros]) => `  ${share(micros)}  ${name}`);

  const svgFile = `${file.replace(/\.cpuprofile$/, '')}.svg`;
  await writeFile(svgFile, renderFlameGraph(profile, byId, self, path.basename(file)));
  return [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((100 * busy) / total).toFixed(0)}% busy`,
    'Busy time by package or module of ours (self time; Node and native work charged to the package or module that asked for it):',
    ...top(byPlace, 25),
    'Functions with the most self time:',
    ...top(byFunction, 20),
    `Flame graph: ${svgFile}`,
  ].join('\n');
}

/** A flame graph (root at the bottom, width = inclusive busy time) as an SVG document. */
function renderFlameGraph(
  profile: Profile,
  byId: Map<number, ProfileNode>,
  self: Map<number, number>,
  title: string,
): string {
  const inclusive = new Map<number, number>();
  const measure = (id: number): number => {
    const node = byId.get(id) as ProfileNode;
    if (IDLE.has(node.callFrame.functionName)) return 0;
    const value =
      (self.get(id) ?? 0) + (node.children ?? []).reduce((sum, child) => sum + measure(child), 0);
    inclusive.set(id, value);
    return value;
  };
  const root = profile.nodes[0] as ProfileNode;
  const total = measure(root.id) || 1;
  const width = 1400;
  const row = 16;
  const visible = (id: number) => ((inclusive.get(id) ?? 0) / total) * width >= 0.5;
  const depthOf = (id: number): number =>
    visible(id)
      ? 1 + Math.max(0, ...((byId.get(id) as ProfileNode).children ?? []).map(depthOf))
      : 0;
  const height = (depthOf(root.id) + 2) * row;
  const rects: string[] = [];
  const draw = (id: number, x: number, depth: number) => {
    if (!visible(id)) return;
    const value = inclusive.get(id) ?? 0;
    const w = (value / total) * width;
    // The root at the bottom.
    const y = height - (depth + 1) * row;
    const node = byId.get(id) as ProfileNode;
    rects.push(
      `<g><title>${escape(nameOf(node))}: ${((100 * value) / total).toFixed(1)}%</title>` +
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${row - 1}" fill="${colour(node)}"/>` +
        (w > 60 ? text(x + 3, y + 11, shorten(nameOf(node), w / 6.5), 'start', 10) : '') +
        '</g>',
    );
    let childX = x;
    for (const child of node.children ?? []) {
      draw(child, childX, depth + 1);
      childX += ((inclusive.get(child) ?? 0) / total) * width;
    }
  };
  draw(root.id, 0, 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + row}" font-family="monospace">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(
      4,
      12,
      `${title}: busy time, the root at the bottom (hover for names)`,
      'start',
      12,
      'bold',
    ),
    ...rects,
    '</svg>',
    '',
  ].join('\n');
}

function colour(node: ProfileNode): string {
  const place = placeOf(node.callFrame.url);
  if (!place) return '#d1d5db';
  if (/^(producer|consumer|platform|contracts)\//.test(place)) return '#f59e0b';
  if (place.startsWith('node:')) return '#93c5fd';
  return '#86efac';
}

const escape = (value: string) => value.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`);
const shorten = (value: string, chars: number) =>
  value.length <= chars ? value : `${value.slice(0, Math.max(0, Math.floor(chars) - 1))}…`;

async function main(): Promise<number> {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: npm run bench:profile -- <file.cpuprofile> ...');
    return 2;
  }
  for (const file of files) console.log(`${await summarise(file)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench:profile:', error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
