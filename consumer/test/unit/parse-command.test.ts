import { describe, expect, it } from '@jest/globals';
import { parseCommand } from '../../src/broker/command-listener';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('parseCommand', () => {
  it('reads a purchase off PURCHASED', () => {
    expect(parseCommand('PURCHASED', body({ user_id: 3 }))).toEqual({
      name: 'purchase',
      body: { user_id: 3 },
    });
  });

  it('reads cancel and restart off their queues', () => {
    expect(parseCommand('CANCELED', body({ subscription_id: 9 }))).toEqual({
      name: 'cancel',
      body: { subscription_id: 9 },
    });
    expect(parseCommand('RESTARTED', body({ subscription_id: 9 }))).toEqual({
      name: 'restart',
      body: { subscription_id: 9 },
    });
  });

  it.each([
    ['not JSON', Buffer.from('{nope')],
    ['empty', Buffer.alloc(0)],
    ['the wrong body for the queue', body({ subscription_id: 1 })],
    ['a string id', body({ user_id: '1' })],
    ['an extra field', body({ user_id: 1, status_id: 2 })],
    ['an array', body([1])],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b])],
  ])('calls %s poison, with a reason', (_name, content) => {
    expect(typeof parseCommand('PURCHASED', content)).toBe('string');
  });
});
