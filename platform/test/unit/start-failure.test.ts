import { describe, expect, it } from '@jest/globals';
import { ConfigError, reportStartFailure } from '../../src';

describe('reportStartFailure', () => {
  const printed = (error: unknown) => {
    const lines: unknown[][] = [];
    reportStartFailure('consumer', error, (...values) => lines.push(values));
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
});
