import { z } from 'zod';
import { REPLY_ERROR_CODES } from './errors';

/** Ids are positive integers that JavaScript represents exactly. */
export const idSchema = z.int().positive();

export const SUBSCRIPTION_STATUSES = ['ACTIVE', 'CANCELED'] as const;
export const subscriptionStatusSchema = z.enum(SUBSCRIPTION_STATUSES);
export type SubscriptionStatus = z.infer<typeof subscriptionStatusSchema>;

export const EVENT_TYPES = [
  'SUBSCRIPTION_PURCHASED',
  'SUBSCRIPTION_CANCELED',
  'SUBSCRIPTION_RESTARTED',
] as const;
export const eventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof eventTypeSchema>;

export const subscriptionSchema = z.object({
  id: idSchema,
  user_id: idSchema,
  status: subscriptionStatusSchema,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime().nullable(),
});
export type Subscription = z.infer<typeof subscriptionSchema>;

export const purchaseCommandSchema = z.strictObject({ user_id: idSchema });
export type PurchaseCommand = z.infer<typeof purchaseCommandSchema>;

/** Body of both the cancel and the restart command. */
export const subscriptionCommandSchema = z.strictObject({ subscription_id: idSchema });
export type SubscriptionCommand = z.infer<typeof subscriptionCommandSchema>;

export const replyErrorSchema = z.object({
  code: z.enum(REPLY_ERROR_CODES),
  message: z.string(),
  current_status: subscriptionStatusSchema.optional(),
});
export type ReplyError = z.infer<typeof replyErrorSchema>;

/** `replayed` is true when the reply was stored by an earlier delivery of the same command. */
export const replySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    subscription: subscriptionSchema,
    replayed: z.boolean().optional(),
  }),
  z.object({ ok: z.literal(false), error: replyErrorSchema, replayed: z.boolean().optional() }),
]);
export type Reply = z.infer<typeof replySchema>;
