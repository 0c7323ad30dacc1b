import { idSchema } from '@subscriptions/contracts';
import { z } from 'zod';

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
  });

/** A path id: decimal digits only, no sign or leading zero, within the safe integer range. */
export const subscriptionIdParamSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a positive integer')
  .transform(Number)
  .pipe(idSchema);

/** Path parameters of `/api/v1/subscriptions/{id}/...`. */
export const subscriptionPathSchema = z.object({ id: subscriptionIdParamSchema });
