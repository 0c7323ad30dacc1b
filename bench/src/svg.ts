import type { CellSummary } from './summary';
import type { TargetName } from './targets';

/** The bits of SVG both charts draw with. */

const FONT = 'font-family="system-ui, sans-serif"';

/** Each design's colour, the same in every chart. */
export const TARGET_COLORS: Record<TargetName, string> = {
  ours: '#2563eb',
  'ours, no events': '#7c3aed',
  'ours, HS256': '#2563eb',
  'ours, RS256': '#0d9488',
  'ours, traced': '#16a34a',
  'ours, traced 10%': '#65a30d',
  baseline: '#ea580c',
};

/** One of a chart's two panels: what it plots and where its plot area starts. */
export interface Panel {
  title: string;
  axisLabel: string;
  left: number;
  value: (cell: CellSummary) => number;
}

/** The throughput panel and the p99 panel beside it, their plot areas starting at `lefts`. */
export function throughputAndP99(
  throughput: Pick<Panel, 'title' | 'axisLabel'>,
  lefts: readonly [number, number],
): Panel[] {
  return [
    { ...throughput, left: lefts[0], value: (cell) => cell.requestsPerSecond },
    {
      title: 'p99 latency (ms, lower is better)',
      axisLabel: 'ms',
      left: lefts[1],
      value: (cell) => cell.latencyMs.p99,
    },
  ];
}

/** A whole SVG document of that size on a white ground, `body` drawn over it. */
export function svgDocument(width: number, height: number, body: readonly string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** A round top and step (1, 2 or 5 times a power of ten) giving about five gridlines. */
export function niceAxis(highest: number): { max: number; step: number } {
  const rough = highest / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= rough) ?? 10) * power;
  return { max: Math.ceil(highest / step) * step, step };
}

export function text(
  x: number,
  y: number,
  content: string,
  anchor: 'start' | 'middle' | 'end',
  size: number,
  weight: 'normal' | 'bold' = 'normal',
  color = '#111827',
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" font-size="${size}" font-weight="${weight}" fill="${color}" ${FONT}>${escapeXml(content)}</text>`;
}

function escapeXml(content: string): string {
  return content.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
