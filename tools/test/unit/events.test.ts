import { describe, expect, it } from '@jest/globals';
import { CLOUD_EVENT_TYPES, EVENT_SOURCE, type CloudEvent } from '@subscriptions/contracts';
import { parseEventsArguments } from '../../src/events/events-command';
import { describeEvent, readEvent } from '../../src/events/read-event';

const canceled: CloudEvent = {
  specversion: '1.0',
  id: '117',
  source: EVENT_SOURCE,
  type: CLOUD_EVENT_TYPES.SUBSCRIPTION_CANCELED,
  subject: '42',
  time: '2026-11-03T14:05:12.000Z',
  datacontenttype: 'application/json',
  data: {
    subscription: {
      id: 42,
      user_id: 7,
      status: 'CANCELED',
      created_at: '2026-11-02T09:30:00.000Z',
      updated_at: '2026-11-03T14:05:12.000Z',
    },
    version: 1,
  },
};

describe('parseEventsArguments', () => {
  it('binds with # when no pattern is given, and prints lines unless --json', () => {
    expect(parseEventsArguments([])).toEqual({ patterns: ['#'], json: false });
    expect(parseEventsArguments(['--json'])).toEqual({ patterns: ['#'], json: true });
  });

  it('binds each pattern once, in the order given', () => {
    expect(
      parseEventsArguments(['subscription.canceled', '--json', 'subscription.*', 'subscription.*']),
    ).toEqual({ patterns: ['subscription.canceled', 'subscription.*'], json: true });
  });

  it('names an unknown option or a pattern that cannot be a binding key', () => {
    expect(parseEventsArguments(['--jsn'])).toBe('unknown option --jsn');
    expect(parseEventsArguments(['a b'])).toBe('"a b" is not a binding pattern');
    expect(parseEventsArguments([''])).toBe('"" is not a binding pattern');
    expect(parseEventsArguments(['x'.repeat(256)])).toMatch(/is not a binding pattern$/);
  });
});

describe('readEvent', () => {
  it('reads a CloudEvent of the events exchange', () => {
    expect(readEvent(Buffer.from(JSON.stringify(canceled)))).toEqual({ ok: true, event: canceled });
  });

  it('says why a body is not one, quoting at most 200 characters of it', () => {
    expect(readEvent(Buffer.from('not json'))).toEqual({
      ok: false,
      reason: 'body is not JSON: "not json"',
    });
    const unknownType = readEvent(Buffer.from(JSON.stringify({ ...canceled, type: 'x.y' })));
    expect(unknownType).toEqual({ ok: false, reason: expect.stringMatching(/^type: /) });
    const long = readEvent(Buffer.from(`[${'1,'.repeat(500)}1]`));
    if (long.ok) throw new Error('read a list as an event');
    expect(long.reason).toMatch(/^\(body\): .*\.\.\.$/);
    expect(long.reason.length).toBeLessThan(400);
  });
});

describe('describeEvent', () => {
  it('gives time, type, subscription, status after the change, version, event and request ids', () => {
    expect(describeEvent(canceled, 'req-1')).toBe(
      '2026-11-03T14:05:12.000Z subscription.canceled  subscription=42 status=CANCELED version=1 event=117 request=req-1',
    );
    expect(describeEvent(canceled, undefined)).toMatch(/ request=-$/);
  });
});
