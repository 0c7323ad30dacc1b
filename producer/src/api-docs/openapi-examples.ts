import { EVENT_SOURCE, type CloudEventType } from '@subscriptions/contracts';
import type { ErrorCode } from '../errors';
import { PROBLEMS, problemType } from '../http/problem';

/** Example values for the OpenAPI document; a test checks each against its schema. */

export const EXAMPLE_REQUEST_ID = '0f9a3c52-6d1e-4b7a-9c2f-5e8d1a4b7c30';

export const activeSubscriptionExample = {
  id: 42,
  user_id: 7,
  status: 'ACTIVE',
  created_at: '2026-11-02T09:30:00.000Z',
  updated_at: null,
};

export const canceledSubscriptionExample = {
  ...activeSubscriptionExample,
  status: 'CANCELED',
  updated_at: '2026-11-03T14:05:12.000Z',
};

export const subscriptionPageExample = {
  data: [activeSubscriptionExample, { ...canceledSubscriptionExample, id: 43 }],
  has_more: true,
};

export const historyExample = {
  data: [
    {
      id: 101,
      subscription_id: 42,
      type: 'SUBSCRIPTION_PURCHASED',
      created_at: '2026-11-02T09:30:00.000Z',
    },
    {
      id: 117,
      subscription_id: 42,
      type: 'SUBSCRIPTION_CANCELED',
      created_at: '2026-11-03T14:05:12.000Z',
    },
  ],
};

/** The restart that would follow the cancel above. */
const restartedSubscriptionExample = {
  ...activeSubscriptionExample,
  updated_at: '2026-11-04T08:00:00.000Z',
};

/** A change of the example subscription as its CloudEvent, as the feed and the exchange carry it. */
function eventExample(
  id: number,
  type: CloudEventType,
  subscription: { id: number; created_at: string; updated_at: string | null },
  version: number,
) {
  return {
    specversion: '1.0',
    id: String(id),
    source: EVENT_SOURCE,
    type,
    subject: String(subscription.id),
    time: subscription.updated_at ?? subscription.created_at,
    datacontenttype: 'application/json',
    data: { subscription, version },
  };
}

/** The purchase and the cancel of the history above, and a restart after them, as events. */
export const eventExamples: Record<CloudEventType, ReturnType<typeof eventExample>> = {
  'subscription.purchased': eventExample(
    101,
    'subscription.purchased',
    activeSubscriptionExample,
    0,
  ),
  'subscription.canceled': eventExample(
    117,
    'subscription.canceled',
    canceledSubscriptionExample,
    1,
  ),
  'subscription.restarted': eventExample(
    133,
    'subscription.restarted',
    restartedSubscriptionExample,
    2,
  ),
};

export const eventPageExample = {
  data: [eventExamples['subscription.purchased'], eventExamples['subscription.canceled']],
  has_more: false,
};

export const EXAMPLE_COMMAND_ID =
  'purchase.mwwhn8g0..MQ.KnCDs9qcII-jOKz8ZzWASw.4NvQnoIx2hfBF2IHYNQUnA';

export const pendingCommandExample = {
  id: EXAMPLE_COMMAND_ID,
  type: 'purchase',
  state: 'pending',
  response: null,
  accepted_at: '2026-11-02T09:29:58.000Z',
  completed_at: null,
};

export const completedCommandExample = {
  ...pendingCommandExample,
  state: 'completed',
  response: { status: 201, body: activeSubscriptionExample },
  completed_at: '2026-11-02T09:30:00.000Z',
};

/** What the service says for each code, and the extra members it adds. */
const PROBLEM_DETAILS: Record<ErrorCode, { detail: string; extra?: Record<string, unknown> }> = {
  validation_failed: {
    detail: '/user_id Invalid input: expected number, received string',
    extra: {
      errors: [
        {
          in: 'body',
          pointer: '/user_id',
          detail: 'Invalid input: expected number, received string',
        },
      ],
    },
  },
  malformed_json: {
    detail: 'the body is not a valid JSON object',
    extra: { errors: [{ in: 'body', pointer: '', detail: 'is not a valid JSON object' }] },
  },
  unauthorized: { detail: 'the token has expired' },
  auth_unavailable: {
    detail: "the identity provider's keys cannot be fetched right now; retry later",
  },
  forbidden: { detail: 'a token may purchase only for its own user_id' },
  route_not_found: { detail: 'no route for GET /api/v1/subscription' },
  subscription_not_found: { detail: 'subscription 42 does not exist' },
  command_not_found: { detail: 'command purchase.mwwhn8g0..MQ.x1.x2 does not exist' },
  invalid_transition: {
    detail: 'cannot cancel a subscription that is CANCELED',
    extra: { current_status: 'CANCELED' },
  },
  idempotency_key_in_flight: {
    detail: 'a request with this Idempotency-Key is still being processed; retry when it completes',
  },
  idempotency_key_reused: { detail: 'this Idempotency-Key was used for a different request' },
  payload_too_large: { detail: 'the body is larger than 16 KiB' },
  unsupported_media_type: { detail: 'send the body as application/json' },
  rate_limited: { detail: 'more than 100 requests in a minute; retry later' },
  user_not_found: { detail: 'user 7 does not exist' },
  broker_unavailable: { detail: 'the message broker is unreachable' },
  overloaded: { detail: 'too many commands are waiting for the broker; retry shortly' },
  command_not_confirmed: { detail: 'the broker did not accept the command' },
  reply_timeout: {
    detail:
      'no reply within 10000 ms; the command may still be applied; poll the Location for the outcome',
  },
  reply_lost: {
    detail:
      'the connection to the broker was lost before the reply; the outcome is unknown; poll the Location for the outcome',
  },
  command_expired: {
    detail: 'the command reached no consumer before its deadline and was not applied',
  },
  database_unavailable: { detail: 'the database is unreachable; try again shortly' },
  internal_error: { detail: 'an unexpected error occurred; it has been logged' },
};

/** The problem document the service answers with for `code`. */
export function problemExample(code: ErrorCode): Record<string, unknown> {
  const { status, title } = PROBLEMS[code];
  const { detail, extra } = PROBLEM_DETAILS[code];
  return {
    type: problemType(code),
    title,
    status,
    detail,
    code,
    request_id: EXAMPLE_REQUEST_ID,
    ...extra,
  };
}
