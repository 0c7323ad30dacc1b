import { describe, expect, it } from '@jest/globals';
import { ConfigError, reportStartFailure } from '../../src';

describe('reportStartFailure', () => {
  const printed = (error: unknown, options: { stack?: boolean } = {}) => {
    const lines: unknown[][] = [];
    reportStartFailure('consumer', error, { ...options, print: (...values) => lines.push(values) });
    return lines;
  };

  it('prints one line per bad variable, named after the service', () => {
    const error = new ConfigError(['PORT: too big', 'LOG_LEVEL: unknown']);
    expect(printed(error)).toEqual([['consumer: PORT: too big'], ['consumer: LOG_LEVEL: unknown']]);
  });

  it('prints any other failure with the error itself, so its stack shows', () => {
    const error = new Error('no route to host');
    expect(printed(error)).toEqual([['consumer: failed to start:', error]]);
  });

  it('prints only the message of any other failure when asked to leave the stack out', () => {
    const error = new Error('no route to host');
    expect(printed(error, { stack: false })).toEqual([['consumer: failed:', 'no route to host']]);
    const config = new ConfigError(['PORT: too big']);
    expect(printed(config, { stack: false })).toEqual([['consumer: PORT: too big']]);
  });
});
