import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
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
    const logger = createLogger('producer', 'info', stream);
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
    createLogger('consumer', 'info', stream).warn({ broker: { token: 's3cret' } }, 'x');
    const line = lines.join('');
    expect(line).not.toContain('s3cret');
    expect(JSON.parse(line)).toMatchObject({
      service: 'consumer',
      broker: { token: '[Redacted]' },
    });
  });

  it('writes nothing below its level', () => {
    const { stream, lines } = capture();
    createLogger('consumer', 'warn', stream).info('quiet');
    expect(lines).toEqual([]);
  });
});
