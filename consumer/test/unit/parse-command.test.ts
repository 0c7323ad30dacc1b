import { describe, expect, it } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import { deadlineOf, identityOf, parseCommand } from '../../src/broker/parse-command';

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

  it('restricts the command to the acting user, given as a number or a decimal string', () => {
    for (const acting of [42, '42']) {
      expect(
        parseCommand('CANCELED', body({ subscription_id: 9 }), { 'x-acting-user-id': acting }),
      ).toEqual({ name: 'cancel', body: { subscription_id: 9 }, actingUserId: 42 });
    }
  });

  it.each([['admin'], [0], [-1], [1.5]])('calls an acting user of %p poison', (acting) => {
    expect(
      parseCommand('CANCELED', body({ subscription_id: 9 }), { 'x-acting-user-id': acting }),
    ).toBe('x-acting-user-id is not a user id');
  });
});

const message = (properties: Partial<ConsumeMessage['properties']>) =>
  ({ properties: { headers: {}, ...properties } }) as unknown as ConsumeMessage;

describe('identityOf', () => {
  it('is the message id alone without an Idempotency-Key', () => {
    expect(identityOf(message({ messageId: 'm-1' }))).toEqual({
      messageId: 'm-1',
      idempotency: undefined,
    });
  });

  it('carries the key with its scope', () => {
    const headers = { 'x-idempotency-key': 'k', 'x-idempotency-scope': 'user:1' };
    expect(identityOf(message({ messageId: 'm-1', headers }))).toEqual({
      messageId: 'm-1',
      idempotency: { scope: 'user:1', key: 'k' },
    });
  });

  it('keeps a request id only as the producer would make one', () => {
    const withRequestId = (id: string) =>
      identityOf(message({ messageId: 'm-1', headers: { 'x-request-id': id } })).requestId;
    expect(withRequestId('req-1')).toBe('req-1');
    expect(withRequestId('r'.repeat(128))).toBe('r'.repeat(128));
    expect(withRequestId('r'.repeat(129))).toBeUndefined();
    expect(withRequestId('two words')).toBeUndefined();
    expect(withRequestId('naïve')).toBeUndefined();
    expect(withRequestId('')).toBeUndefined();
  });

  it('ignores an empty message id, a key over 255 characters and a key without scope', () => {
    const tooLong = { 'x-idempotency-key': 'k'.repeat(256), 'x-idempotency-scope': 's' };
    expect(identityOf(message({ messageId: '', headers: tooLong }))).toEqual({
      messageId: undefined,
      idempotency: undefined,
    });
    expect(identityOf(message({ headers: { 'x-idempotency-key': 'k' } })).idempotency).toBe(
      undefined,
    );
  });
});

describe('deadlineOf', () => {
  it('reads the deadline header as epoch milliseconds, a number or a string', () => {
    expect(deadlineOf({ 'x-deadline': 1_800_000_000_000 })).toBe(1_800_000_000_000);
    expect(deadlineOf({ 'x-deadline': '1800000000000' })).toBe(1_800_000_000_000);
  });

  it.each([[undefined], ['soon'], [0], [-5]])('has no deadline for %p', (value) => {
    expect(deadlineOf({ 'x-deadline': value })).toBeUndefined();
  });
});
