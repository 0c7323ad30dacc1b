import { z } from 'zod';
import { createDocument, type ZodOpenApiResponsesObject } from 'zod-openapi';
import type { ErrorCode } from '../errors';
import { PROBLEMS } from './problem';
import {
  historyResponseSchema,
  listQuerySchema,
  problemSchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPageSchema,
  subscriptionPathSchema,
  subscriptionResponseSchema,
} from './schemas';

/** Problem responses for `codes`, grouped by status, each naming the codes it can carry. */
function problems(...codes: ErrorCode[]): ZodOpenApiResponsesObject {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = PROBLEMS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, grouped]) => [
      String(status),
      {
        description: grouped.map((code) => `\`${code}\`: ${PROBLEMS[code].title}`).join('; '),
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    ]),
  );
}

const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

/** Problems any write can meet: unreadable input, or a broker that did not take or answer it. */
const WRITE_PROBLEMS = [
  'validation_failed',
  'unauthorized',
  'rate_limited',
  'malformed_json',
  'payload_too_large',
  'unsupported_media_type',
  'broker_unavailable',
  'command_not_confirmed',
  'reply_timeout',
  'reply_lost',
  'idempotency_key_in_flight',
  'idempotency_key_reused',
  'overloaded',
  'internal_error',
] as const;

const READ_PROBLEMS = [
  'validation_failed',
  'unauthorized',
  'rate_limited',
  'database_unavailable',
  'internal_error',
] as const;

/** Every `/api/v1` operation takes a bearer token (unless the service runs with auth off). */
const bearer = [{ bearerAuth: [] }];

const healthSchema = z.object({ status: z.string() });

const idempotencyHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe(
      'Makes a retry safe: a repeat of a completed request replays its status and body ' +
        '(with Idempotent-Replayed: true) instead of applying it again. Kept at least 24 h.',
    ),
});

const replayedHeaders = z.object({
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .describe('Present when the answer is the stored answer of an earlier identical request'),
});

/** The OpenAPI 3.1 document, built from the same zod schemas that validate requests. */
export function createOpenApiDocument(): ReturnType<typeof createDocument> {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Subscription service',
      version: '1.0.0',
      description:
        'Purchase, cancel and restart subscriptions. Writes travel as commands through RabbitMQ ' +
        'to a consumer that applies them to MySQL; reads come straight from MySQL.',
    },
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'HS256 JWT: `sub` is the user id, `exp` required; a `scope` containing ' +
            '`subscriptions:admin` may act on any user. `npm run token -- <user_id> [--admin]` prints one.',
        },
      },
    },
    tags: [
      { name: 'subscriptions', description: 'Subscriptions and their history' },
      { name: 'operations', description: 'Health and readiness' },
    ],
    paths: {
      '/api/v1/subscriptions': {
        post: {
          tags: ['subscriptions'],
          operationId: 'purchaseSubscription',
          security: bearer,
          summary: 'Purchase a subscription',
          requestParams: { header: idempotencyHeaders },
          requestBody: { required: true, ...json(purchaseRequestSchema) },
          responses: {
            '201': {
              description: 'Created, ACTIVE',
              headers: replayedHeaders.extend({
                Location: z.string().describe('/api/v1/subscriptions/{id}'),
              }),
              ...json(subscriptionResponseSchema),
            },
            ...problems(...WRITE_PROBLEMS, 'forbidden', 'user_not_found'),
          },
        },
        get: {
          tags: ['subscriptions'],
          operationId: 'listSubscriptions',
          security: bearer,
          summary: 'List subscriptions, in id order, a page at a time',
          requestParams: { query: listQuerySchema },
          responses: {
            '200': { description: 'One page', ...json(subscriptionPageSchema) },
            ...problems(...READ_PROBLEMS, 'forbidden'),
          },
        },
      },
      '/api/v1/subscriptions/{id}': {
        get: {
          tags: ['subscriptions'],
          operationId: 'getSubscription',
          security: bearer,
          summary: 'Get a subscription',
          requestParams: { path: subscriptionPathSchema },
          responses: {
            '200': { description: 'The subscription', ...json(subscriptionResponseSchema) },
            ...problems(...READ_PROBLEMS, 'subscription_not_found'),
          },
        },
      },
      '/api/v1/subscriptions/{id}/status': {
        put: {
          tags: ['subscriptions'],
          operationId: 'changeSubscriptionStatus',
          security: bearer,
          summary: 'Cancel (from ACTIVE) or restart (from CANCELED) a subscription',
          requestParams: { path: subscriptionPathSchema, header: idempotencyHeaders },
          requestBody: { required: true, ...json(statusChangeRequestSchema) },
          responses: {
            '200': {
              headers: replayedHeaders,
              description: 'The subscription with its new status',
              ...json(subscriptionResponseSchema),
            },
            ...problems(...WRITE_PROBLEMS, 'subscription_not_found', 'invalid_transition'),
          },
        },
      },
      '/api/v1/subscriptions/{id}/history': {
        get: {
          tags: ['subscriptions'],
          operationId: 'getSubscriptionHistory',
          security: bearer,
          summary: 'Every applied change of a subscription, oldest first',
          requestParams: { path: subscriptionPathSchema },
          responses: {
            '200': { description: 'The history', ...json(historyResponseSchema) },
            ...problems(...READ_PROBLEMS, 'subscription_not_found'),
          },
        },
      },
      '/healthz': {
        get: {
          tags: ['operations'],
          operationId: 'health',
          summary: 'Liveness: 200 while the process runs',
          responses: { '200': { description: 'Alive', ...json(healthSchema) } },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics: HTTP and RPC latency, outcomes, pending calls',
          responses: {
            '200': {
              description: 'Prometheus text exposition format',
              content: { 'text/plain': { schema: z.string() } },
            },
          },
        },
      },
      '/readyz': {
        get: {
          tags: ['operations'],
          operationId: 'ready',
          summary: 'Readiness: 200 when the broker and the database are reachable',
          responses: {
            '200': { description: 'Ready', ...json(healthSchema) },
            '503': { description: 'Not ready, or shutting down', ...json(healthSchema) },
          },
        },
      },
    },
  });
}
