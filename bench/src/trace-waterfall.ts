import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import dotenv from 'dotenv';
import { createTestVhost } from '../../test-support/broker';
import { createCleanup } from '../../test-support/cleanup';
import { createTestDatabase } from '../../test-support/database';
import { startConsumer, startProducer } from '../../test-support/processes/services';
import { type ReceivedSpan, startOtlpReceiver } from '../../test-support/tracing/otlp-receiver';
import { svgDocument, text } from './svg';

/**
 * `npm run bench:trace`: one purchase through a scratch stack (database, vhost, producer and
 * consumer built and tracing to a local OTLP receiver), its spans written to
 * docs/tracing/purchase-trace.json, drawn as a waterfall in docs/tracing/purchase-trace.svg and
 * printed as text. `npm run bench:trace -- --from <file.json>` draws spans captured before.
 */

const ROOT = path.resolve(__dirname, '../..');
const OUT_DIR = path.join(ROOT, 'docs/tracing');

/** A span as the files keep it: times in microseconds from the trace's first span. */
interface WaterfallSpan {
  service: string;
  name: string;
  kind: string;
  spanId: string;
  parentSpanId: string;
  startUs: number;
  durationUs: number;
  links: number;
}

/** Every span below its parent, siblings by start time; the depth of each. */
function treeOrder(spans: WaterfallSpan[]): { span: WaterfallSpan; depth: number }[] {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = (parent: string) =>
    spans
      .filter((span) => (ids.has(span.parentSpanId) ? span.parentSpanId : '') === parent)
      .sort((a, b) => a.startUs - b.startUs);
  const ordered: { span: WaterfallSpan; depth: number }[] = [];
  const visit = (parent: string, depth: number) => {
    for (const span of children(parent)) {
      ordered.push({ span, depth });
      visit(span.spanId, depth + 1);
    }
  };
  visit('', 0);
  return ordered;
}

const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const shortService = (service: string) => service.replace(/^subscriptions-/, '');

/** The waterfall as text: a bar per span on a scale of `width` characters. */
export function renderTextWaterfall(spans: WaterfallSpan[], width = 48): string {
  const rows = treeOrder(spans);
  const end = Math.max(...spans.map((span) => span.startUs + span.durationUs));
  const label = (span: WaterfallSpan, depth: number) =>
    `${'  '.repeat(depth)}${span.name}${span.links > 0 ? ` (${span.links} link)` : ''}`;
  const labelWidth = Math.max(...rows.map(({ span, depth }) => label(span, depth).length));
  const lines = rows.map(({ span, depth }) => {
    const from = Math.floor((span.startUs / end) * width);
    const length = Math.max(1, Math.round((span.durationUs / end) * width));
    const bar = `${' '.repeat(from)}${'█'.repeat(Math.min(length, width - from))}`.padEnd(width);
    return `${label(span, depth).padEnd(labelWidth)}  ${shortService(span.service).padEnd(8)} |${bar}| ${ms(span.startUs).padStart(6)} +${ms(span.durationUs)} ms`;
  });
  const header = `${'span'.padEnd(labelWidth)}  ${'process'.padEnd(8)} |0 ms${`${ms(end)} ms`.padStart(width - 4)}|  start  duration`;
  return [header, ...lines].join('\n');
}

const SERVICE_COLORS: Record<string, string> = {
  'subscriptions-producer': '#2563eb',
  'subscriptions-consumer': '#16a34a',
};

/** The waterfall as an SVG picture: a row per span, its bar on a time axis, the process by colour. */
export function renderSvgWaterfall(spans: WaterfallSpan[], title: string): string {
  const rows = treeOrder(spans);
  const end = Math.max(...spans.map((span) => span.startUs + span.durationUs));
  const rowHeight = 22;
  const top = 56;
  const labelWidth = 330;
  const barLeft = labelWidth + 20;
  const barWidth = 560;
  const width = barLeft + barWidth + 90;
  const height = top + rows.length * rowHeight + 40;
  const x = (us: number) => barLeft + (us / end) * barWidth;
  const body: string[] = [text(16, 24, title, 'start', 14, 'bold')];
  for (const [service, color] of Object.entries(SERVICE_COLORS)) {
    const offset = service.endsWith('producer') ? 0 : 110;
    body.push(
      `<rect x="${16 + offset}" y="34" width="10" height="10" fill="${color}"/>`,
      text(30 + offset, 43, shortService(service), 'start', 11),
    );
  }
  for (let tick = 0; tick <= 4; tick += 1) {
    const at = (end * tick) / 4;
    body.push(
      `<line x1="${x(at).toFixed(1)}" y1="${top - 6}" x2="${x(at).toFixed(1)}" y2="${height - 30}" stroke="#e5e7eb"/>`,
      text(x(at), height - 16, `${ms(at)} ms`, 'middle', 10, 'normal', '#6b7280'),
    );
  }
  rows.forEach(({ span, depth }, index) => {
    const y = top + index * rowHeight;
    const color = SERVICE_COLORS[span.service] ?? '#6b7280';
    const name = `${span.name}${span.links > 0 ? ` (${span.links} link)` : ''}`;
    body.push(
      text(16 + depth * 12, y + 14, name, 'start', 11),
      `<rect x="${x(span.startUs).toFixed(1)}" y="${y + 4}" width="${Math.max(1.5, (span.durationUs / end) * barWidth).toFixed(1)}" height="${rowHeight - 8}" rx="2" fill="${color}"/>`,
      text(
        Math.min(x(span.startUs + span.durationUs) + 4, width - 80),
        y + 14,
        `${ms(span.durationUs)} ms`,
        'start',
        10,
        'normal',
        '#374151',
      ),
    );
  });
  return svgDocument(width, height, body);
}

/** The spans of one trace, as the files keep them. */
function waterfallSpans(trace: ReceivedSpan[]): WaterfallSpan[] {
  const start = trace.reduce(
    (first, span) => (span.start < first ? span.start : first),
    trace[0]?.start ?? 0n,
  );
  return trace.map((span) => ({
    service: span.service,
    name: span.name,
    kind: span.kind,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    startUs: Number((span.start - start) / 1000n),
    durationUs: Number((span.end - span.start) / 1000n),
    links: span.links.length,
  }));
}

/** Runs one purchase through a traced scratch stack and returns the spans of its trace. */
async function captureOnePurchase(): Promise<WaterfallSpan[]> {
  const cleanup = createCleanup();
  try {
    const receiver = await startOtlpReceiver();
    cleanup.add('stop the OTLP receiver', () => receiver.close());
    const [database, vhost] = await Promise.all([
      createTestDatabase({ prefix: 'bench_', cleanup }),
      createTestVhost({ prefix: 'bench_', cleanup }),
    ]);
    const tracing = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      LOG_LEVEL: 'warn',
    };
    const common = { amqpUrl: vhost.url, database: database.name, readiness: 'readyz' } as const;
    const consumer = await startConsumer({ ...common, env: tracing });
    cleanup.add('stop the consumer', () => consumer.stop());
    const producer = await startProducer({ ...common, env: tracing });
    cleanup.add('stop the producer', () => producer.stop());
    const userId = await database.createUser();
    // A first purchase warms the connections up; the second is the one drawn.
    for (let warmUp = 0; warmUp < 2; warmUp += 1) {
      await fetch(`${producer.baseUrl}/api/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: userId }),
      });
    }
    const traceId = randomBytes(16).toString('hex');
    const response = await fetch(`${producer.baseUrl}/api/v1/subscriptions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
      body: JSON.stringify({ user_id: userId }),
    });
    if (response.status !== 201) throw new Error(`the purchase answered ${response.status}`);
    const trace = await receiver.waitFor('the purchase and its event', (spans) => {
      const found = spans.filter((span) => span.traceId === traceId);
      return found.some((span) => span.name === 'publish SUBSCRIPTIONS.EVENTS') && found;
    });
    return waterfallSpans(trace);
  } finally {
    for (const failure of await cleanup.releaseAll()) console.error(`bench:trace: ${failure}`);
  }
}

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const from = process.argv.indexOf('--from');
  const spans =
    from > 0
      ? (
          JSON.parse(await readFile(process.argv[from + 1] ?? '', 'utf8')) as {
            spans: WaterfallSpan[];
          }
        ).spans
      : await captureOnePurchase();
  await mkdir(OUT_DIR, { recursive: true });
  const title = 'One purchase: POST /api/v1/subscriptions, producer and consumer in one trace';
  if (from < 0) {
    await writeFile(
      path.join(OUT_DIR, 'purchase-trace.json'),
      `${JSON.stringify({ capturedAt: new Date().toISOString(), node: process.version, spans }, null, 2)}\n`,
    );
  }
  await writeFile(path.join(OUT_DIR, 'purchase-trace.svg'), renderSvgWaterfall(spans, title));
  console.log(renderTextWaterfall(spans));
}

main().catch((error: unknown) => {
  console.error('bench:trace:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
