import { ADMIN_SCOPE } from '@subscriptions/contracts';
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiMediaTypeObject,
  type ZodOpenApiOperationObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import type { ErrorCode } from '../errors';
import {
  activeSubscriptionExample,
  canceledSubscriptionExample,
  completedCommandExample,
  eventPageExample,
  pendingCommandExample,
  EXAMPLE_REQUEST_ID,
  historyExample,
  problemExample,
  subscriptionPageExample,
} from './openapi-examples';
import { PROBLEMS } from '../http/problem';
import {
  commandPathSchema,
  commandResponseSchema,
  eventPageSchema,
  eventsQuerySchema,
  historyResponseSchema,
  listQuerySchema,
  problemSchema,
  purchaseRequestSchema,
  statusChangeRequestSchema,
  subscriptionPageSchema,
  subscriptionPathSchema,
  subscriptionResponseSchema,
} from '../http/schemas';

/** Response headers, declared once and referenced where they are sent. */
const HEADERS = {
  Location: {
    description:
      'On a 201, where the created subscription is: `/api/v1/subscriptions/{id}`. On a 202 ' +
      'or a 504, where the command is: `/api/v1/commands/{command_id}`, to poll for its outcome',
    required: true,
    schema: { type: 'string' },
    example: '/api/v1/subscriptions/42',
  },
  'Preference-Applied': {
    description: 'RFC 7240: the command was accepted and is answered asynchronously',
    required: true,
    schema: { type: 'string', const: 'respond-async' },
    example: 'respond-async',
  },
  'Idempotent-Replayed': {
    description:
      'Present when the answer is the stored answer of an earlier request with the same ' +
      'Idempotency-Key, replayed instead of applying the command again',
    schema: { type: 'string', const: 'true' },
    example: 'true',
  },
  'WWW-Authenticate': {
    description:
      'RFC 6750 challenge: `error="invalid_token"` and an `error_description` when a token ' +
      'was sent but refused; no error when none was sent',
    required: true,
    schema: { type: 'string' },
    example:
      'Bearer realm="subscriptions", error="invalid_token", error_description="the token has expired"',
  },
  'Retry-After': {
    description:
      'Seconds to wait before retrying: what is left of the rate-limit window on a 429, ' +
      "a short pause on a 503 (on `auth_unavailable`, until the identity provider's keys may " +
      'be fetched again), and before polling a pending command again on a 202 or a 200',
    required: true,
    schema: { type: 'integer', minimum: 0 },
    example: 2,
  },
  RateLimit: {
    description:
      'IETF RateLimit header fields (draft 8): requests left in the window (`r`) and seconds ' +
      'until it resets (`t`). Sent when the service runs with a rate limit.',
    schema: { type: 'string' },
    example: '"100-in-1min"; r=99; t=60',
  },
  'RateLimit-Policy': {
    description:
      'The quota (`q`) per window of `w` seconds, and the key (`pk`) of the caller it counts. ' +
      'Sent when the service runs with a rate limit.',
    schema: { type: 'string' },
    example: '"100-in-1min"; q=100; w=60; pk=:MmU3ZGY0NWE2ZDFi:',
  },
  'X-Request-Id': {
    description:
      "The request's X-Request-Id when it sent a usable one (1 to 128 printable ASCII " +
      'characters, no spaces), else one made for it; it follows a command into the consumer logs',
    required: true,
    schema: { type: 'string' },
    example: EXAMPLE_REQUEST_ID,
  },
} as const;

type HeaderName = keyof typeof HEADERS;

/** References to the shared definitions in `components.headers`. */
function headers(...names: HeaderName[]): Record<string, { $ref: string }> {
  return Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));
}

/** Adds `names` to every response that `applies` to; the others stay as they are. */
function withHeaders(
  responses: ZodOpenApiResponsesObject,
  names: HeaderName[],
  applies: (status: string) => boolean = () => true,
): ZodOpenApiResponsesObject {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) => {
      const plain = response as ZodOpenApiResponseObject;
      if (!applies(status)) return [status, plain];
      return [status, { ...plain, headers: { ...plain.headers, ...headers(...names) } }];
    }),
  );
}

/** The codes a write can replay from a stored consumer reply, with Idempotent-Replayed. */
const REPLAYABLE_CODES: readonly ErrorCode[] = [
  'forbidden',
  'subscription_not_found',
  'invalid_transition',
  'user_not_found',
  'internal_error',
];

/**
 * The authenticator's challenge; Retry-After from the rate limiter and `sendProblem` (503); the
 * command's Location on a 504.
 */
function problemHeaders(code: ErrorCode): HeaderName[] {
  if (code === 'unauthorized') return ['WWW-Authenticate'];
  if (code === 'rate_limited' || PROBLEMS[code].status === 503) return ['Retry-After'];
  if (PROBLEMS[code].status === 504) return ['Location'];
  return [];
}

/**
 * Problem responses for `codes`, grouped by status, each naming the codes it can carry with an
 * example of each. On a write, a refusal the consumer stored may come back replayed.
 */
function problems(codes: readonly ErrorCode[], write = false): ZodOpenApiResponsesObject {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = PROBLEMS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, grouped]) => {
      const names = new Set(grouped.flatMap(problemHeaders));
      if (write && grouped.some((code) => REPLAYABLE_CODES.includes(code))) {
        names.add('Idempotent-Replayed');
      }
      const examples = Object.fromEntries(
        grouped.map((code) => [
          code,
          { summary: PROBLEMS[code].title, value: problemExample(code) },
        ]),
      );
      return [
        String(status),
        {
          description: grouped.map((code) => `\`${code}\`: ${PROBLEMS[code].title}`).join('; '),
          ...(names.size > 0 && { headers: headers(...names) }),
          content: { 'application/problem+json': { schema: problemSchema, examples } },
        },
      ];
    }),
  );
}

const json = (schema: z.ZodType, example: unknown) => ({
  content: { 'application/json': { schema, example } satisfies ZodOpenApiMediaTypeObject },
});

/** Problems any write can meet: unreadable input, or a broker that did not take or answer it. */
const WRITE_PROBLEMS = [
  'validation_failed',
  'unauthorized',
  'auth_unavailable',
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
  'auth_unavailable',
  'rate_limited',
  'database_unavailable',
  'internal_error',
] as const;

const BEARER = [{ bearerAuth: [] }];

/**
 * An `/api/v1` operation: it takes a bearer token (unless the service runs with auth off),
 * then passes the rate limiter, whose headers every answer but a 401 carries.
 */
function apiOperation(operation: ZodOpenApiOperationObject): ZodOpenApiOperationObject {
  const limited = withHeaders(
    operation.responses,
    ['RateLimit', 'RateLimit-Policy'],
    (status) => status !== '401',
  );
  return {
    ...operation,
    security: BEARER,
    responses: withHeaders(limited, ['X-Request-Id']),
  };
}

/** An operation that needs no token. */
function publicOperation(operation: ZodOpenApiOperationObject): ZodOpenApiOperationObject {
  return {
    ...operation,
    security: [],
    responses: withHeaders(operation.responses, ['X-Request-Id']),
  };
}

const healthSchema = z.object({ status: z.string() });

const writeHeaders = z.object({
  Prefer: z
    .string()
    .optional()
    .meta({
      description:
        'RFC 7240. `respond-async`: answer 202 with the command to poll as soon as the broker ' +
        'has taken it. `wait=N` (seconds, up to the RPC deadline): the usual answer if the ' +
        'outcome comes within N seconds, else 202. Other preferences are ignored.',
      param: { example: 'respond-async' },
    }),
  'Idempotency-Key': z
    .string()
    .regex(/^[\x20-\x7e]{1,255}$/)
    .optional()
    .meta({
      description:
        'Makes a retry safe: a repeat of a completed request replays its status and body ' +
        '(with Idempotent-Replayed: true) instead of applying it again; an asynchronous ' +
        'repeat of a pending request answers its 202 and command again. 1 to 255 printable ' +
        'ASCII characters, scoped to the caller, kept at least 24 h.',
      param: { example: '5b0e7c1e-purchase-7' },
    }),
});

/** The 202 of a write: accepted, with the command to poll. */
const ACCEPTED: ZodOpenApiResponseObject = {
  description:
    'Accepted (`Prefer: respond-async`, or `wait=N` elapsed): the command will be applied; ' +
    'poll its Location',
  headers: headers('Location', 'Preference-Applied', 'Retry-After'),
  ...json(commandResponseSchema, pendingCommandExample),
};

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
    servers: [
      { url: '/', description: 'The service that serves this document' },
      {
        url: 'http://localhost:5000',
        description: 'A local run (`npm start`) or `docker compose`',
      },
    ],
    security: BEARER,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "A JWT: HS256 signed with the service's secret (`npm run token -- <user_id> [--admin]` " +
            'prints one), or an access token of the configured identity provider (RS256, PS256, ' +
            'ES256 or EdDSA, with its `iss` and `aud`). `exp` required; the user id is `sub` (or ' +
            'the configured claim); a `scope` (or `scp`) containing ' +
            `\`${ADMIN_SCOPE}\` may act on any user.`,
        },
      },
      headers: HEADERS,
    },
    tags: [
      { name: 'subscriptions', description: 'Subscriptions and their history' },
      { name: 'commands', description: 'Accepted writes and their outcome' },
      { name: 'events', description: 'Every applied change, as the events other services hear' },
      { name: 'operations', description: 'Health, readiness, metrics and this documentation' },
    ],
    paths: {
      '/api/v1/subscriptions': {
        post: apiOperation({
          tags: ['subscriptions'],
          operationId: 'purchaseSubscription',
          summary: 'Purchase a subscription',
          requestParams: { header: writeHeaders },
          requestBody: { required: true, ...json(purchaseRequestSchema, { user_id: 7 }) },
          responses: {
            '201': {
              description: 'Created, ACTIVE',
              headers: headers('Location', 'Idempotent-Replayed'),
              ...json(subscriptionResponseSchema, activeSubscriptionExample),
            },
            '202': ACCEPTED,
            ...problems([...WRITE_PROBLEMS, 'forbidden', 'user_not_found'], true),
          },
        }),
        get: apiOperation({
          tags: ['subscriptions'],
          operationId: 'listSubscriptions',
          summary: 'List subscriptions, in id order, a page at a time',
          requestParams: { query: listQuerySchema },
          responses: {
            '200': {
              description: 'One page',
              ...json(subscriptionPageSchema, subscriptionPageExample),
            },
            ...problems([...READ_PROBLEMS, 'forbidden']),
          },
        }),
      },
      '/api/v1/subscriptions/{id}': {
        get: apiOperation({
          tags: ['subscriptions'],
          operationId: 'getSubscription',
          summary: 'Get a subscription',
          requestParams: { path: subscriptionPathSchema },
          responses: {
            '200': {
              description: 'The subscription',
              ...json(subscriptionResponseSchema, activeSubscriptionExample),
            },
            ...problems([...READ_PROBLEMS, 'subscription_not_found']),
          },
        }),
      },
      '/api/v1/subscriptions/{id}/status': {
        put: apiOperation({
          tags: ['subscriptions'],
          operationId: 'changeSubscriptionStatus',
          summary: 'Cancel (from ACTIVE) or restart (from CANCELED) a subscription',
          requestParams: { path: subscriptionPathSchema, header: writeHeaders },
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: statusChangeRequestSchema,
                examples: {
                  cancel: { summary: 'Cancel an ACTIVE subscription', value: { canceled: true } },
                  restart: {
                    summary: 'Restart a CANCELED subscription',
                    value: { restarted: true },
                  },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'The subscription with its new status',
              headers: headers('Idempotent-Replayed'),
              ...json(subscriptionResponseSchema, canceledSubscriptionExample),
            },
            '202': ACCEPTED,
            ...problems([...WRITE_PROBLEMS, 'subscription_not_found', 'invalid_transition'], true),
          },
        }),
      },
      '/api/v1/subscriptions/{id}/history': {
        get: apiOperation({
          tags: ['subscriptions'],
          operationId: 'getSubscriptionHistory',
          summary: 'Every applied change of a subscription, oldest first',
          requestParams: { path: subscriptionPathSchema },
          responses: {
            '200': { description: 'The history', ...json(historyResponseSchema, historyExample) },
            ...problems([...READ_PROBLEMS, 'subscription_not_found']),
          },
        }),
      },
      '/api/v1/commands/{id}': {
        get: apiOperation({
          tags: ['commands'],
          operationId: 'getCommand',
          summary: 'The state of an accepted write and, once completed, its answer',
          description:
            'Only the caller that sent the command, or an admin, may read it; for anyone ' +
            'else it does not exist. Kept as long as Idempotency-Keys are.',
          requestParams: { path: commandPathSchema },
          responses: {
            '200': {
              description: 'The command; `Retry-After` while it is pending',
              headers: {
                'Retry-After': {
                  description: 'Seconds to wait before polling again; sent while pending',
                  required: false,
                  schema: { type: 'integer', minimum: 0 },
                },
              },
              content: {
                'application/json': {
                  schema: commandResponseSchema,
                  examples: {
                    pending: { summary: 'Accepted, not applied yet', value: pendingCommandExample },
                    completed: { summary: 'Applied', value: completedCommandExample },
                  },
                },
              },
            },
            ...problems([...READ_PROBLEMS, 'command_not_found']),
          },
        }),
      },
      '/api/v1/events': {
        get: apiOperation({
          tags: ['events'],
          operationId: 'listEvents',
          summary: 'Every applied change as a CloudEvent, oldest first, a page at a time',
          description:
            'The events the service publishes on the SUBSCRIPTIONS.EVENTS exchange, for a ' +
            'subscriber that was away to catch up: go on with `starting_after` set to the last ' +
            'id seen, and tell duplicates by id. Ids become visible in order, so no event is ' +
            'ever skipped. An admin reads every event; any other caller those of its own ' +
            'subscriptions.',
          requestParams: { query: eventsQuerySchema },
          responses: {
            '200': { description: 'One page', ...json(eventPageSchema, eventPageExample) },
            ...problems(READ_PROBLEMS),
          },
        }),
      },
      '/healthz': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'health',
          summary: 'Liveness: 200 while the process runs',
          responses: { '200': { description: 'Alive', ...json(healthSchema, { status: 'ok' }) } },
        }),
      },
      '/readyz': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'ready',
          summary: 'Readiness: 200 when the broker and the database are reachable',
          responses: {
            '200': { description: 'Ready', ...json(healthSchema, { status: 'ready' }) },
            '503': {
              description: 'Not ready, or shutting down',
              ...json(healthSchema, { status: 'not ready' }),
            },
          },
        }),
      },
      '/metrics': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics: HTTP and RPC latency, outcomes, pending calls',
          responses: {
            '200': {
              description: 'Prometheus text exposition format',
              content: {
                'text/plain': {
                  schema: z.string(),
                  example:
                    '# HELP subscriptions_rpc_pending_calls Commands published and still waiting for their reply\n' +
                    '# TYPE subscriptions_rpc_pending_calls gauge\n' +
                    'subscriptions_rpc_pending_calls 0\n',
                },
              },
            },
          },
        }),
      },
      '/api/openapi.json': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'openApiDocument',
          summary: 'This OpenAPI document',
          responses: {
            '200': {
              description: 'The OpenAPI 3.1 document',
              content: {
                'application/json': {
                  schema: { type: 'object', required: ['openapi', 'info', 'paths'] },
                  example: {
                    openapi: '3.1.0',
                    info: { title: 'Subscription service', version: '1.0.0' },
                    paths: {},
                  },
                },
              },
            },
          },
        }),
      },
      '/api/asyncapi.json': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'asyncApiDocument',
          summary: 'The AsyncAPI 3.0 document of the messaging side: commands, replies, events',
          responses: {
            '200': {
              description: 'The AsyncAPI 3.0 document',
              content: {
                'application/json': {
                  schema: { type: 'object', required: ['asyncapi', 'info', 'channels'] },
                  example: {
                    asyncapi: '3.0.0',
                    info: { title: 'Subscription service messaging', version: '1.0.0' },
                    channels: {},
                  },
                },
              },
            },
          },
        }),
      },
      '/api/docs': {
        get: publicOperation({
          tags: ['operations'],
          operationId: 'docsPage',
          summary: 'A page that renders this document, from assets the service serves itself',
          responses: {
            '200': {
              description: 'Swagger UI',
              content: {
                'text/html': {
                  schema: z.string(),
                  example: '<!doctype html>\n<html lang="en">…</html>\n',
                },
              },
            },
          },
        }),
      },
    },
  });
}

/**
 * The committed copy of a document (the OpenAPI or the AsyncAPI one): two-space JSON in document
 * order, a final newline.
 */
export function renderDocumentFile(document: object): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
