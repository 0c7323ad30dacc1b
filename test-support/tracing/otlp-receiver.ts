import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
// The OTLP messages compiled from opentelemetry-proto's definitions, as the OpenTelemetry JS
// exporters of this version line shipped them (protobufjs static code): a maintained decoder.
import otlpRoot from '@opentelemetry/otlp-transformer/build/src/generated/root';

/** A span as an OTLP request carried it, ids in hex and attributes as plain values. */
export interface ReceivedSpan {
  /** `service.name` of the resource that sent it. */
  service: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';
  /** Nanoseconds since the epoch. */
  start: bigint;
  end: bigint;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  status: { code: 'unset' | 'ok' | 'error'; message: string };
}

export interface OtlpReceiver {
  /** The endpoint to set as OTEL_EXPORTER_OTLP_ENDPOINT: spans are posted to `<url>/v1/traces`. */
  readonly url: string;
  /** Every span received so far, in the order they came. */
  spans(): ReceivedSpan[];
  /** How many export requests came in each protocol, and their bytes. */
  requests(): { protobuf: number; json: number; bytes: number };
  /** Resolves with the spans once `holds` is true of them; rejects naming `what` after `timeoutMs`. */
  waitFor<T>(
    what: string,
    holds: (spans: ReceivedSpan[]) => T | undefined | false,
    timeoutMs?: number,
  ): Promise<T>;
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpValue[] };
}

interface OtlpKeyValue {
  key: string;
  value?: OtlpValue;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number; message?: string };
}

interface OtlpTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

interface MessageType {
  decode(buffer: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}

const traceRequestType = (
  otlpRoot as unknown as {
    opentelemetry: {
      proto: { collector: { trace: { v1: { ExportTraceServiceRequest: MessageType } } } };
    };
  }
).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
const STATUS_CODES = ['unset', 'ok', 'error'] as const;

function plainValue(value: OtlpValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(plainValue);
  return undefined;
}

function plainAttributes(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, plainValue(value)]));
}

/** OTLP/protobuf carries ids as bytes (base64 once decoded to an object), OTLP/JSON as hex. */
function spansOf(request: OtlpTraceRequest, hexIds: (id: string) => string): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap(({ resource, scopeSpans }) => {
    const name = plainAttributes(resource?.attributes)['service.name'];
    const service = typeof name === 'string' ? name : '';
    return (scopeSpans ?? []).flatMap(({ spans }) =>
      (spans ?? []).map((span): ReceivedSpan => ({
        service,
        traceId: hexIds(span.traceId),
        spanId: hexIds(span.spanId),
        parentSpanId: span.parentSpanId ? hexIds(span.parentSpanId) : '',
        name: span.name,
        kind: KINDS[span.kind ?? 0] ?? 'unspecified',
        start: BigInt(span.startTimeUnixNano),
        end: BigInt(span.endTimeUnixNano),
        attributes: plainAttributes(span.attributes),
        links: (span.links ?? []).map((link) => ({
          traceId: hexIds(link.traceId),
          spanId: hexIds(link.spanId),
        })),
        status: {
          code: STATUS_CODES[span.status?.code ?? 0] ?? 'unset',
          message: span.status?.message ?? '',
        },
      })),
    );
  });
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * An OTLP/HTTP trace receiver on 127.0.0.1 and a free port, as a collector or Jaeger would be:
 * POST /v1/traces in `application/x-protobuf` or `application/json`, each answered with an empty
 * ExportTraceServiceResponse in the same encoding. With `decode: false` (the bench, whose own CPU
 * is the load generator's) it only counts what came.
 */
export async function startOtlpReceiver(options: { decode?: boolean } = {}): Promise<OtlpReceiver> {
  const { decode = true } = options;
  const received: ReceivedSpan[] = [];
  const counts = { protobuf: 0, json: 0, bytes: 0 };
  const listeners = new Set<() => void>();

  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const type = request.headers['content-type'] ?? '';
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      counts.bytes += body.length;
      if (!decode) {
        if (type.startsWith('application/json')) counts.json += 1;
        else counts.protobuf += 1;
        response
          .writeHead(200, { 'content-type': type })
          .end(type.startsWith('application/json') ? '{}' : '');
        return;
      }
      if (type.startsWith('application/x-protobuf')) {
        const message = traceRequestType.toObject(traceRequestType.decode(body), {
          longs: String,
          bytes: String,
        }) as OtlpTraceRequest;
        received.push(...spansOf(message, (id) => Buffer.from(id, 'base64').toString('hex')));
        counts.protobuf += 1;
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } else if (type.startsWith('application/json')) {
        received.push(...spansOf(JSON.parse(body.toString('utf8')) as OtlpTraceRequest, String));
        counts.json += 1;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        response.writeHead(415).end();
        return;
      }
      for (const listener of listeners) listener();
    })().catch(() => response.writeHead(400).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    requests: () => ({ ...counts }),
    waitFor(what, holds, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = holds([...received]);
          if (found === undefined || found === false) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`waited ${timeoutMs} ms for ${what}; ${received.length} spans came`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
