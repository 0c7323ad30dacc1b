import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/logger';

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

describe('producer logger', () => {
  it('redacts the Authorization header, cookies and secret-named fields', () => {
    const { stream, lines } = capture();
    const logger = createLogger('info', stream);
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
});
