import { z } from 'zod';
import { type EventType, type SubscriptionStatus, subscriptionSchema } from './messages';
import { traceContextSchema } from './trace-context';

/** Where the consumer publishes one message per applied change (docs/contract.md, "Events"). */
export const EVENTS_EXCHANGE = 'SUBSCRIPTIONS.EVENTS';

/** Each history type's CloudEvents `type`, which is also its routing key on the events exchange. */
export const CLOUD_EVENT_TYPES = {
  SUBSCRIPTION_PURCHASED: 'subscription.purchased',
  SUBSCRIPTION_CANCELED: 'subscription.canceled',
  SUBSCRIPTION_RESTARTED: 'subscription.restarted',
} as const satisfies Record<EventType, string>;

/** The status a subscription has after each kind of change (docs/contract.md, state machine). */
export const STATUS_AFTER = {
  SUBSCRIPTION_PURCHASED: 'ACTIVE',
  SUBSCRIPTION_CANCELED: 'CANCELED',
  SUBSCRIPTION_RESTARTED: 'ACTIVE',
} as const satisfies Record<EventType, SubscriptionStatus>;

export const cloudEventTypeSchema = z.enum(Object.values(CLOUD_EVENT_TYPES));
export type CloudEventType = z.infer<typeof cloudEventTypeSchema>;

/** The `content_type` of an event message: CloudEvents 1.0 in structured mode, JSON. */
export const CLOUD_EVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** The `source` of every event: the collection whose members change. */
export const EVENT_SOURCE = '/api/v1/subscriptions';

/**
 * One applied change as a CloudEvent: the message body on the events exchange and an entry of
 * the events feed alike. `id` is the history row's id as decimal text, `subject` the
 * subscription's id, `data` the subscription as the change left it and its version (0 after the
 * purchase, one more for each later change). `traceparent` and `tracestate` (the CloudEvents
 * distributed-tracing extension) name the request that made the change, when it was traced.
 */
export const cloudEventSchema = z.strictObject({
  specversion: z.literal('1.0'),
  id: z.string().regex(/^[1-9][0-9]*$/),
  source: z.literal(EVENT_SOURCE),
  type: cloudEventTypeSchema,
  subject: z.string().regex(/^[1-9][0-9]*$/),
  time: z.iso.datetime(),
  datacontenttype: z.literal('application/json'),
  data: z.strictObject({
    subscription: subscriptionSchema,
    version: z.int().min(0),
  }),
  traceparent: traceContextSchema.shape.traceparent.optional(),
  tracestate: traceContextSchema.shape.tracestate,
});
export type CloudEvent = z.infer<typeof cloudEventSchema>;
