import { describe, expect, it } from '@jest/globals';
import { cloudEventSchema } from '@subscriptions/contracts';
import {
  type EventRow,
  readTraceContext,
  toCloudEvent,
  traceContextText,
} from '../../src/event-rows';

const purchased = new Date('2026-01-02T03:04:05.678Z');
const canceled = new Date('2026-01-05T06:07:08.009Z');

type Fields = Partial<
  Pick<
    EventRow,
    'id' | 'subscription_id' | 'type' | 'version' | 'created_at' | 'user_id' | 'trace_context'
  >
>;

const row = (fields: Fields) =>
  ({
    id: 11,
    subscription_id: 7,
    type: 'SUBSCRIPTION_PURCHASED',
    version: 0,
    request_id: 'req-1',
    trace_context: null,
    created_at: purchased,
    user_id: 3,
    subscription_created_at: purchased,
    ...fields,
  }) as EventRow;

describe('toCloudEvent', () => {
  it('makes a purchase the CloudEvent of the new subscription', () => {
    const event = toCloudEvent(row({}));
    expect(event).toEqual({
      specversion: '1.0',
      id: '11',
      source: '/api/v1/subscriptions',
      type: 'subscription.purchased',
      subject: '7',
      time: '2026-01-02T03:04:05.678Z',
      datacontenttype: 'application/json',
      data: {
        subscription: {
          id: 7,
          user_id: 3,
          status: 'ACTIVE',
          created_at: '2026-01-02T03:04:05.678Z',
          updated_at: null,
        },
        version: 0,
      },
    });
    expect(cloudEventSchema.parse(event)).toEqual(event);
  });

  it('gives a later change the status it led to and its own time as updated_at', () => {
    // BIGINT ids the driver hands over as text read as numbers.
    const ids = { id: '9007199254740991', subscription_id: '7', user_id: '3' } as const;
    const event = toCloudEvent(
      row({
        ...(ids as unknown as Fields),
        type: 'SUBSCRIPTION_CANCELED',
        version: 3,
        created_at: canceled,
      }),
    );
    expect(event).toEqual(
      expect.objectContaining({
        id: '9007199254740991',
        type: 'subscription.canceled',
        time: '2026-01-05T06:07:08.009Z',
        data: {
          subscription: {
            id: 7,
            user_id: 3,
            status: 'CANCELED',
            created_at: '2026-01-02T03:04:05.678Z',
            updated_at: '2026-01-05T06:07:08.009Z',
          },
          version: 3,
        },
      }),
    );
    expect(
      toCloudEvent(row({ type: 'SUBSCRIPTION_RESTARTED', version: 4, created_at: canceled })).data
        .subscription.status,
    ).toBe('ACTIVE');
  });
});

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('the trace context of a history row', () => {
  it('becomes the CloudEvents distributed-tracing attributes of its event', () => {
    const kept = traceContextText({ traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
    const event = toCloudEvent(row({ trace_context: kept }));
    expect(event).toMatchObject({ traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
    expect(cloudEventSchema.parse(event)).toEqual(event);
  });

  it('is kept as JSON, and none is kept as NULL', () => {
    expect(traceContextText({ traceparent: TRACEPARENT })).toBe(`{"traceparent":"${TRACEPARENT}"}`);
    expect(traceContextText(undefined)).toBeNull();
  });

  it('drops a tracestate that would not fit the column, keeping the traceparent', () => {
    const text = traceContextText({ traceparent: TRACEPARENT, tracestate: 'k=v'.repeat(400) });
    expect(readTraceContext(text)).toEqual({ traceparent: TRACEPARENT });
  });

  it('reads anything else in the column (edited by hand) as none, never failing the event', () => {
    for (const text of ['', 'not json', '{"traceparent":"nonsense"}', '[]']) {
      expect(readTraceContext(text)).toBeNull();
      expect(toCloudEvent(row({ trace_context: text }))).not.toHaveProperty('traceparent');
    }
  });
});
