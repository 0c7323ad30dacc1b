import {
  eventTypeSchema,
  idSchema,
  subscriptionSchema,
  subscriptionStatusSchema,
} from '@subscriptions/contracts';
import { z } from 'zod';
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

/** A path id: decimal digits only, no sign or leading zero, within the safe integer range. */
export const subscriptionIdParamSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a positive integer')
  .transform(Number)
  .pipe(idSchema);

/** Path parameters of `/api/v1/subscriptions/{id}/...`. */
export const subscriptionPathSchema = z.object({ id: subscriptionIdParamSchema });

/** A query-string integer: decimal digits only, within the safe integer range. */
const queryIdSchema = subscriptionIdParamSchema;

/** `GET /api/v1/subscriptions` query. Repeated or unknown parameters are refused. */
export const listQuerySchema = z.strictObject({
  user_id: queryIdSchema.optional().describe('Only this user’s subscriptions'),
  status: subscriptionStatusSchema.optional().describe('Only subscriptions in this status'),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,2}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .pipe(z.int().min(1, 'must be at least 1').max(100, 'must be at most 100'))
    .optional()
    .describe('Page size, 1 to 100 (default 20)'),
  starting_after: queryIdSchema
    .optional()
    .describe('Cursor: the id of the last subscription of the previous page'),
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
