import { niceAxis, svgDocument, TARGET_COLORS, text, throughputAndP99, type Panel } from './svg';
import type { CellSummary, Summary } from './summary';

interface Series {
  label: string;
  color: string;
  matches(cell: CellSummary): boolean;
}

const SERIES: Series[] = [
  {
    label: 'ours: purchase',
    color: TARGET_COLORS.ours,
    matches: (cell) => cell.target === 'ours' && cell.scenario === 'purchase',
  },
  {
    label: 'ours, no events: purchase',
    color: TARGET_COLORS['ours, no events'],
    matches: (cell) => cell.target === 'ours, no events' && cell.scenario === 'purchase',
  },
  {
    label: 'baseline: purchase',
    color: TARGET_COLORS.baseline,
    matches: (cell) => cell.target === 'baseline' && cell.scenario === 'purchase',
  },
  {
    label: 'ours: purchase, async (202)',
    color: '#16a34a',
    matches: (cell) => cell.target === 'ours' && cell.scenario === 'async',
  },
  {
    label: 'ours: mix',
    color: '#93c5fd',
    matches: (cell) => cell.target === 'ours' && cell.scenario === 'mix',
  },
];

const WIDTH = 1000;
const HEIGHT = 470;
const PLOT = { top: 100, height: 290, width: 400 };

/** Two panels of grouped bars, requests/s and p99 against connections, as an SVG document. */
export function renderChart(summary: Summary, caption: string): string {
  const series = SERIES.filter((one) => summary.cells.some((cell) => one.matches(cell)));
  const connections = [...new Set(summary.cells.map((cell) => cell.connections))];
  const panels = throughputAndP99(
    { title: 'Throughput (requests/s, higher is better)', axisLabel: 'requests/s' },
    [80, 570],
  );
  const body = [
    text(
      WIDTH / 2,
      30,
      'Subscription service vs a plain Express + MySQL API',
      'middle',
      18,
      'bold',
    ),
    renderLegend(series),
    ...panels.map((panel) => renderPanel(panel, series, connections, summary.cells)),
    text(WIDTH / 2, HEIGHT - 12, caption, 'middle', 12, 'normal', '#4b5563'),
  ];
  return svgDocument(WIDTH, HEIGHT, body);
}

function renderLegend(series: readonly Series[]): string {
  // Each item is as wide as its label (about 7.5 px a character at 13 px), then a gap.
  const widths = series.map((one) => 20 + one.label.length * 7.5 + 30);
  const total = widths.reduce((sum, width) => sum + width, 0);
  let x = WIDTH / 2 - total / 2;
  return series
    .map((one, index) => {
      const item = [
        `<rect x="${x}" y="48" width="14" height="14" fill="${one.color}"/>`,
        text(x + 20, 60, one.label, 'start', 13),
      ].join('\n');
      x += widths[index] ?? 0;
      return item;
    })
    .join('\n');
}

function renderPanel(
  panel: Panel,
  series: readonly Series[],
  connections: readonly number[],
  cells: readonly CellSummary[],
): string {
  const values = cells.map(panel.value).filter(Number.isFinite);
  const axis = niceAxis(Math.max(1, ...values));
  const bottom = PLOT.top + PLOT.height;
  const y = (value: number) => bottom - (value / axis.max) * PLOT.height;
  const groupWidth = PLOT.width / Math.max(1, connections.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, series.length);
  const parts = [
    text(panel.left + PLOT.width / 2, PLOT.top - 18, panel.title, 'middle', 14, 'bold'),
  ];

  for (let tick = 0; tick <= axis.max + axis.step / 2; tick += axis.step) {
    parts.push(
      `<line x1="${panel.left}" x2="${panel.left + PLOT.width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e7eb"/>`,
      text(panel.left - 8, y(tick) + 4, formatTick(tick, axis.step), 'end', 11),
    );
  }
  connections.forEach((count, group) => {
    const groupLeft = panel.left + group * groupWidth + groupWidth * 0.1;
    series.forEach((one, index) => {
      const cell = cells.find((c) => c.connections === count && one.matches(c));
      if (!cell) return;
      const value = panel.value(cell);
      const x = groupLeft + index * barWidth;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(value).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(bottom - y(value)).toFixed(1)}" fill="${one.color}"/>`,
        text(x + barWidth / 2 - 1, y(value) - 4, formatValue(value), 'middle', 10),
      );
    });
    parts.push(
      text(
        panel.left + group * groupWidth + groupWidth / 2,
        bottom + 18,
        String(count),
        'middle',
        12,
      ),
    );
  });
  parts.push(
    `<line x1="${panel.left}" x2="${panel.left + PLOT.width}" y1="${bottom}" y2="${bottom}" stroke="#111827"/>`,
    `<line x1="${panel.left}" x2="${panel.left}" y1="${PLOT.top}" y2="${bottom}" stroke="#111827"/>`,
    text(panel.left + PLOT.width / 2, bottom + 38, 'concurrent connections', 'middle', 12),
    `<g transform="translate(${panel.left - 52} ${PLOT.top + PLOT.height / 2}) rotate(-90)">`,
    text(0, 0, panel.axisLabel, 'middle', 12),
    '</g>',
  );
  return parts.join('\n');
}

function formatTick(value: number, step: number): string {
  return step < 1 ? value.toFixed(1) : String(Math.round(value));
}

function formatValue(value: number): string {
  return value >= 100 ? String(Math.round(value)) : String(Number(value.toFixed(1)));
}
