import {
  cloudEventSchema,
  cloudEventTypeSchema,
  eventTypeSchema,
  idSchema,
  subscriptionSchema,
  subscriptionStatusSchema,
} from '@subscriptions/contracts';
import { z } from 'zod';
import { COMMAND_ID_PATTERN } from '../commands/command-ids';
import { ERROR_CODES } from '../errors';

/** `POST /api/v1/subscriptions`. */
export const purchaseRequestSchema = z.strictObject({
  user_id: idSchema.describe('The user who buys the subscription'),
});

/** `PUT /api/v1/subscriptions/{id}/status`: exactly one of the two flags, as literal `true`. */
export const statusChangeRequestSchema = z
  .strictObject({
    canceled: z.literal(true).optional(),
    restarted: z.literal(true).optional(),
  })
  .refine((body) => (body.canceled === true) !== (body.restarted === true), {
    message: 'exactly one of "canceled" or "restarted" must be given, as true',
  })
  .meta({
    id: 'StatusChange',
    description: 'Exactly one of the two flags, as literal true',
    // The refinement has no JSON Schema form; say the same thing with oneOf.
    override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
      const only = (flag: string) => ({
        type: 'object',
        properties: { [flag]: { const: true } },
        required: [flag],
        additionalProperties: false,
      });
      for (const key of Object.keys(jsonSchema)) delete jsonSchema[key];
      Object.assign(jsonSchema, {
        description: 'Exactly one of the two flags, as literal true',
        oneOf: [only('canceled'), only('restarted')],
      });
    },
  });

/**
 * A path or query integer from 1 to `max`, in decimal without sign or leading zero. The
 * document declares the integer it stands for, with the bounds this parser enforces.
 */
function positiveIntegerParamSchema(max: number) {
  const message = `must be an integer from 1 to ${max}`;
  return (
    z
      .string()
      .regex(new RegExp(`^[1-9][0-9]{0,${String(max).length - 1}}$`), message)
      .transform(Number)
      // One check with one message: a number past 2^53 is refused once, not once per bound.
      .pipe(z.number().refine((value) => Number.isSafeInteger(value) && value <= max, message))
      .meta({
        override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
          delete jsonSchema['pattern'];
          Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: max });
        },
      })
  );
}

/** Ids are positive safe integers, as in the message schemas. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;
/** The most items (subscriptions, events) one page of a list holds. */
export const MAX_PAGE_SIZE = 100;
/** Page size when the client does not ask for one. */
export const DEFAULT_PAGE_SIZE = 20;

/** `limit` of a list: optional, the routers fill in the default. */
const pageLimitSchema = positiveIntegerParamSchema(MAX_PAGE_SIZE)
  .optional()
  .meta({
    description: `Page size, 1 to ${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE})`,
    param: { example: 20 },
  });

/** A subscription id in the path. */
export const subscriptionIdParamSchema = positiveIntegerParamSchema(MAX_ID);

/** Path parameters of `/api/v1/subscriptions/{id}/...`. */
export const subscriptionPathSchema = z.object({
  id: subscriptionIdParamSchema.meta({
    description: 'The subscription id',
    param: { example: 42 },
  }),
});

/** `GET /api/v1/subscriptions` query. Repeated or unknown parameters are refused. */
export const listQuerySchema = z.strictObject({
  user_id: positiveIntegerParamSchema(MAX_ID)
    .optional()
    .meta({ description: 'Only this user’s subscriptions', param: { example: 7 } }),
  status: subscriptionStatusSchema
    .optional()
    .meta({ description: 'Only subscriptions in this status', param: { example: 'ACTIVE' } }),
  limit: pageLimitSchema,
  starting_after: positiveIntegerParamSchema(MAX_ID)
    .optional()
    .meta({
      description: 'Cursor: the id of the last subscription of the previous page',
      param: { example: 42 },
    }),
});

/** `GET /api/v1/events` query. Repeated or unknown parameters are refused. */
export const eventsQuerySchema = z.strictObject({
  starting_after: positiveIntegerParamSchema(MAX_ID)
    .optional()
    .meta({
      description: 'Cursor: the id of the last event seen; the feed goes on after it',
      param: { example: 1042 },
    }),
  limit: pageLimitSchema,
  subscription_id: positiveIntegerParamSchema(MAX_ID)
    .optional()
    .meta({ description: 'Only this subscription’s events', param: { example: 42 } }),
  type: cloudEventTypeSchema
    .optional()
    .meta({ description: 'Only events of this type', param: { example: 'subscription.canceled' } }),
});

/** Responses. Registered with an id so the OpenAPI document names them as components. */
export const subscriptionResponseSchema = subscriptionSchema.meta({
  id: 'Subscription',
  description: 'A subscription and its current status',
});

export const eventResponseSchema = z
  .object({
    id: idSchema,
    subscription_id: idSchema,
    type: eventTypeSchema,
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'Event', description: 'One applied change in a subscription’s history' });

export const historyResponseSchema = z
  .object({ data: z.array(eventResponseSchema) })
  .meta({ id: 'History', description: 'Every applied change, oldest first' });

export const subscriptionPageSchema = z
  .object({ data: z.array(subscriptionResponseSchema), has_more: z.boolean() })
  .meta({ id: 'SubscriptionPage', description: 'One page of subscriptions in id order' });

export const cloudEventResponseSchema = cloudEventSchema.meta({
  id: 'CloudEvent',
  description:
    'One applied change as a CloudEvent 1.0 (structured mode): the same object the events ' +
    'exchange carries. `id` is the history row’s id, `subject` the subscription’s, `data` the ' +
    'subscription as the change left it and its version (0 after the purchase)',
});

export const eventPageSchema = z
  .object({ data: z.array(cloudEventResponseSchema), has_more: z.boolean() })
  .meta({ id: 'EventPage', description: 'Events after the cursor, oldest first' });

/** Path parameters of `/api/v1/commands/{id}`. */
export const commandPathSchema = z.object({
  id: z
    .string()
    .regex(COMMAND_ID_PATTERN, 'must be 1 to 255 letters, digits, "-", "_" or "."')
    .meta({
      description: 'The command id, from the Location of a 202 or a 504',
      param: { example: 'purchase.mwwhn8g0..MQ.KnCDs9qcII-jOKz8ZzWASw.4NvQnoIx2hfBF2IHYNQUnA' },
    }),
});

export const problemSchema = z
  .object({
    type: z.string().describe('urn:subscriptions:problem:<code>'),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES).describe('Stable, machine-readable reason'),
    request_id: z.string(),
    errors: z
      .array(
        z.object({
          in: z.enum(['body', 'path', 'query', 'header']),
          pointer: z.string().describe('RFC 6901 pointer into that part of the request'),
          detail: z.string(),
        }),
      )
      .optional()
      .describe('Present on validation errors: one item per bad field'),
    current_status: subscriptionStatusSchema
      .optional()
      .describe('Present on invalid_transition: the status the subscription is in'),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem document' });

export const commandResponseSchema = z
  .object({
    id: z.string().describe('The command id; its resource is /api/v1/commands/{id}'),
    type: z.enum(['purchase', 'cancel', 'restart']),
    state: z
      .enum(['pending', 'completed'])
      .describe('pending: accepted, not yet applied or refused; completed: it has its answer'),
    response: z
      .object({
        status: z.int().describe('The status the synchronous call answers with'),
        body: z
          .union([subscriptionResponseSchema, problemSchema])
          .describe('The body the synchronous call answers with'),
      })
      .nullable()
      .describe('null while pending'),
    accepted_at: z.iso.datetime().describe('When the service took the request'),
    completed_at: z.iso.datetime().nullable(),
  })
  .meta({
    id: 'Command',
    description: 'A write accepted by the service, and once it has ended, its answer',
  });
