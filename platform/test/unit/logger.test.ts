import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createLogger } from '../../src';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { stream, lines };
}

describe('createLogger', () => {
  it('redacts the Authorization header, cookies and secret-named fields', () => {
    const { stream, lines } = capture();
    const logger = createLogger('producer', 'info', { destination: stream });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', accept: '*/*' } },
        db: { password: 'hunter2' },
      },
      'request',
    );
    const line = lines.join('');
    expect(line).not.toContain('abc.def.ghi');
    expect(line).not.toContain('sid=1');
    expect(line).not.toContain('hunter2');
    expect(line).toContain('*/*');
    expect(JSON.parse(line)).toMatchObject({
      service: 'producer',
      req: { headers: { authorization: '[Redacted]' } },
    });
  });

  it('names the service it logs for, and redacts for the consumer too', () => {
    const { stream, lines } = capture();
    createLogger('consumer', 'info', { destination: stream }).warn(
      { broker: { token: 's3cret' } },
      'x',
    );
    const line = lines.join('');
    expect(line).not.toContain('s3cret');
    expect(JSON.parse(line)).toMatchObject({
      service: 'consumer',
      broker: { token: '[Redacted]' },
    });
  });

  it('writes nothing below its level', () => {
    const { stream, lines } = capture();
    createLogger('consumer', 'warn', { destination: stream }).info('quiet');
    expect(lines).toEqual([]);
  });
});

describe('createLogger with trace ids', () => {
  let provider: NodeTracerProvider;

  beforeAll(() => {
    provider = new NodeTracerProvider();
    provider.register();
  });

  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('names the active span on every line written inside it, and none outside', () => {
    const { stream, lines } = capture();
    const logger = createLogger('producer', 'info', { destination: stream, traceIds: true });
    const ids = trace.getTracer('test').startActiveSpan('request', (span) => {
      logger.info('inside');
      logger.child({ request_id: 'r-1' }).warn('inside, from a child');
      span.end();
      return span.spanContext();
    });
    logger.info('outside');
    const [inside, child, outside] = lines.map(
      (line) => JSON.parse(line) as Record<string, unknown>,
    );
    const named = { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: '01' };
    expect(inside).toMatchObject(named);
    expect(child).toMatchObject({ ...named, request_id: 'r-1' });
    expect(outside).not.toHaveProperty('trace_id');
  });

  it('adds nothing without them, even inside a span', () => {
    const { stream, lines } = capture();
    const logger = createLogger('consumer', 'info', { destination: stream });
    trace.getTracer('test').startActiveSpan('request', (span) => {
      logger.info('inside');
      span.end();
    });
    expect(JSON.parse(lines[0] ?? '{}')).not.toHaveProperty('trace_id');
  });
});
