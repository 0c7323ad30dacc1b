import { niceAxis, svgDocument, TARGET_COLORS, text, throughputAndP99, type Panel } from './svg';
import type { CellSummary, Summary } from './summary';

const WIDTH = 1000;
const HEIGHT = 520;
const PLOT = { top: 130, height: 290, width: 390 };

interface Line {
  label: string;
  color: string;
  /** Dashed for the higher concurrency, so the two of one design read apart. */
  dashed: boolean;
  cells: CellSummary[];
}

/**
 * Purchases per second and p99 of each design against the database's CPU budget, one line per
 * design and concurrency, as an SVG document: where the database is what runs out, how each
 * design's throughput grows with the CPU it is given.
 */
export function renderCurveChart(summary: Summary, caption: string): string {
  const cells = summary.cells.filter(
    (cell) => cell.scenario === 'purchase' && cell.dbCpu !== undefined,
  );
  const budgets = [...new Set(cells.map((cell) => cell.dbCpu as number))].sort((a, b) => a - b);
  const connections = [...new Set(cells.map((cell) => cell.connections))].sort((a, b) => a - b);
  const lines: Line[] = [];
  for (const [target, color] of Object.entries(TARGET_COLORS)) {
    connections.forEach((count, index) => {
      const own = cells
        .filter((cell) => cell.target === target && cell.connections === count)
        .sort((a, b) => (a.dbCpu as number) - (b.dbCpu as number));
      if (own.length === 0) return;
      lines.push({
        label: `${target}, ${count} conn`,
        color,
        dashed: index > 0,
        cells: own,
      });
    });
  }
  const panels = throughputAndP99(
    { title: 'Purchases/s (higher is better)', axisLabel: 'purchases/s' },
    [90, 580],
  );
  return svgDocument(WIDTH, HEIGHT, [
    text(WIDTH / 2, 30, 'Purchases against the database’s CPU budget', 'middle', 18, 'bold'),
    renderLegend(lines),
    ...panels.map((panel) => renderPanel(panel, lines, budgets)),
    text(WIDTH / 2, HEIGHT - 12, caption, 'middle', 11, 'normal', '#4b5563'),
  ]);
}

function renderLegend(lines: readonly Line[]): string {
  const perRow = 3;
  const itemWidth = 230;
  return lines
    .map((line, index) => {
      const row = Math.floor(index / perRow);
      const column = index % perRow;
      const x = WIDTH / 2 - (perRow * itemWidth) / 2 + column * itemWidth;
      const y = 52 + row * 20;
      return [
        `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${line.color}" stroke-width="3"${line.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
        text(x + 30, y + 4, line.label, 'start', 13),
      ].join('\n');
    })
    .join('\n');
}

function renderPanel(panel: Panel, lines: readonly Line[], budgets: readonly number[]): string {
  const values = lines.flatMap((line) => line.cells.map(panel.value)).filter(Number.isFinite);
  const axis = niceAxis(Math.max(1, ...values));
  const bottom = PLOT.top + PLOT.height;
  const y = (value: number) => bottom - (value / axis.max) * PLOT.height;
  // Budgets spaced evenly: the interesting ones are small and close together.
  const step = PLOT.width / Math.max(1, budgets.length);
  const x = (budget: number) => panel.left + step / 2 + budgets.indexOf(budget) * step;
  const parts = [
    text(panel.left + PLOT.width / 2, PLOT.top - 18, panel.title, 'middle', 14, 'bold'),
  ];
  for (let tick = 0; tick <= axis.max + axis.step / 2; tick += axis.step) {
    parts.push(
      `<line x1="${panel.left}" x2="${panel.left + PLOT.width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e7eb"/>`,
      text(panel.left - 8, y(tick) + 4, String(Math.round(tick)), 'end', 11),
    );
  }
  for (const budget of budgets) {
    parts.push(text(x(budget), bottom + 18, String(budget), 'middle', 12));
  }
  for (const line of lines) {
    const points = line.cells.map((cell) => [x(cell.dbCpu as number), y(panel.value(cell))]);
    parts.push(
      `<polyline fill="none" stroke="${line.color}" stroke-width="2.5"${line.dashed ? ' stroke-dasharray="6 4"' : ''} points="${points.map(([px, py]) => `${px?.toFixed(1)},${py?.toFixed(1)}`).join(' ')}"/>`,
      ...line.cells.map((cell) => {
        const value = panel.value(cell);
        const px = x(cell.dbCpu as number);
        return [
          `<circle cx="${px.toFixed(1)}" cy="${y(value).toFixed(1)}" r="3.5" fill="${line.color}"/>`,
          text(px + 5, y(value) - 6, String(Math.round(value)), 'start', 10, 'normal', line.color),
        ].join('\n');
      }),
    );
  }
  parts.push(
    `<line x1="${panel.left}" x2="${panel.left + PLOT.width}" y1="${bottom}" y2="${bottom}" stroke="#111827"/>`,
    `<line x1="${panel.left}" x2="${panel.left}" y1="${PLOT.top}" y2="${bottom}" stroke="#111827"/>`,
    text(panel.left + PLOT.width / 2, bottom + 38, 'database CPU budget (cores)', 'middle', 12),
    `<g transform="translate(${panel.left - 58} ${PLOT.top + PLOT.height / 2}) rotate(-90)">`,
    text(0, 0, panel.axisLabel, 'middle', 12),
    '</g>',
  );
  return parts.join('\n');
}
