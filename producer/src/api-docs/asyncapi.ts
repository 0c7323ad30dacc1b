import {
  CLOUD_EVENT_TYPES,
  CLOUD_EVENTS_CONTENT_TYPE,
  COMMAND_QUEUE_ARGUMENTS,
  COMMANDS,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  DIRECT_REPLY_QUEUE,
  EVENTS_EXCHANGE,
  EXCHANGE,
  HEADER_ACTING_USER,
  HEADER_DEADLINE,
  HEADER_IDEMPOTENCY_KEY,
  HEADER_IDEMPOTENCY_SCOPE,
  HEADER_REQUEST_ID,
  QUEUES,
  UNAPPLIED_QUEUE,
  cloudEventSchema,
  idSchema,
  purchaseCommandSchema,
  replySchema,
  routingKeyFor,
  subscriptionCommandSchema,
  type CloudEventType,
  type CommandName,
} from '@subscriptions/contracts';
import { z } from 'zod';
import {
  activeSubscriptionExample,
  canceledSubscriptionExample,
  EXAMPLE_REQUEST_ID,
  eventExamples,
} from './openapi-examples';

/** The AMQP bindings this document is written against (AsyncAPI bindings repository). */
const AMQP_BINDING_VERSION = '0.3.0';

type JsonObject = Record<string, unknown>;
type Reference = { $ref: string };

export interface AsyncApiMessage {
  name: string;
  title: string;
  summary: string;
  description?: string;
  contentType: string;
  headers: JsonObject;
  payload: JsonObject;
  /**
   * The AMQP message properties (not headers) as a JSON Schema: AsyncAPI has no field for them,
   * and the RPC depends on `correlation_id` and `reply_to`.
   */
  'x-amqp-properties': JsonObject;
  examples: { name: string; summary: string; headers: JsonObject; payload: unknown }[];
}

export interface AsyncApiChannel {
  address: string | null;
  title: string;
  description: string;
  messages: Record<string, Reference>;
  bindings: { amqp: JsonObject };
}

export interface AsyncApiOperation {
  action: 'send' | 'receive';
  channel: Reference;
  title: string;
  summary: string;
  description?: string;
  messages: Reference[];
  reply?: { channel: Reference; messages: Reference[] };
  bindings: { amqp: JsonObject };
}

export interface AsyncApiDocument {
  asyncapi: '3.0.0';
  info: { title: string; version: string; description: string };
  defaultContentType: string;
  servers: Record<string, JsonObject>;
  channels: Record<string, AsyncApiChannel>;
  operations: Record<string, AsyncApiOperation>;
  components: { messages: Record<string, AsyncApiMessage> };
}

/** Draft 7, the dialect AsyncAPI schemas extend; `$schema` is left out as the format says it. */
function jsonSchemaOf(schema: z.ZodType): JsonObject {
  const converted: JsonObject = { ...z.toJSONSchema(schema, { target: 'draft-7' }) };
  delete converted['$schema'];
  return converted;
}

const requestIdHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/)
  .describe("The HTTP request's X-Request-Id, for following one request through the logs");

const commandHeadersSchema = z.object({
  [HEADER_REQUEST_ID]: requestIdHeader,
  [HEADER_DEADLINE]: z
    .int()
    .positive()
    .optional()
    .describe(
      'Epoch milliseconds. A synchronous command only: past it the consumer dead-letters the ' +
        'command unapplied. An asynchronous command has none and waits until it can be applied',
    ),
  [HEADER_IDEMPOTENCY_KEY]: z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe("The client's Idempotency-Key, when the request had one"),
  [HEADER_IDEMPOTENCY_SCOPE]: z
    .string()
    .optional()
    .describe('The caller the Idempotency-Key belongs to; sent with it'),
  [HEADER_ACTING_USER]: idSchema
    .optional()
    .describe(
      "Present when the caller is not an admin: the command applies only to this user's " +
        'subscriptions',
    ),
});

const commandPropertiesSchema = z.object({
  content_type: z.literal('application/json'),
  delivery_mode: z.literal(2).describe('Persistent'),
  message_id: z
    .string()
    .describe(
      'The command id, as in `/api/v1/commands/{command_id}`; the consumer deduplicates on it',
    ),
  correlation_id: z.string().describe('Unique per call; the reply carries the same'),
  reply_to: z
    .literal(DIRECT_REPLY_QUEUE)
    .optional()
    .describe(
      'RabbitMQ direct reply-to. Absent on an asynchronous command sent without `wait`, which ' +
        'nobody waits for',
    ),
  expiration: z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .optional()
    .describe('Milliseconds left until the deadline; a synchronous command only'),
  timestamp: z.int().positive().describe('Epoch seconds of the publish'),
});

const replyHeadersSchema = z.object({ [HEADER_REQUEST_ID]: requestIdHeader.optional() });

const replyPropertiesSchema = z.object({
  content_type: z.literal('application/json'),
  correlation_id: z.string().describe("The command's `correlation_id`"),
});

const DEAD_LETTER_REASONS = ['rejected', 'expired', 'delivery_limit'] as const;

const deadLetterHeadersSchema = commandHeadersSchema.extend({
  'x-first-death-reason': z
    .enum(DEAD_LETTER_REASONS)
    .describe(
      'Set by RabbitMQ: refused by the consumer (poison, past its deadline, not applicable), ' +
        'expired in the queue, or redelivered too often',
    ),
  'x-first-death-queue': z.enum(QUEUES).describe('The command queue the command left'),
  'x-first-death-exchange': z.literal(EXCHANGE),
  'x-death': z
    .array(z.record(z.string(), z.unknown()))
    .describe("RabbitMQ's record of each time the message was dead-lettered"),
});

const eventHeadersSchema = z.object({
  [HEADER_REQUEST_ID]: requestIdHeader
    .optional()
    .describe('The X-Request-Id of the HTTP request whose command made the change'),
});

const eventPropertiesSchema = z.object({
  content_type: z.literal(CLOUD_EVENTS_CONTENT_TYPE),
  delivery_mode: z.literal(2).describe('Persistent'),
  message_id: z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .describe("The event's `id`: a subscriber that sees it twice has seen one change"),
  timestamp: z.int().positive().describe("Epoch seconds of the event's `time`"),
});

const COMMAND_TEXT: Record<CommandName, { title: string; does: string }> = {
  purchase: { title: 'Purchase', does: 'creates an ACTIVE subscription for the user' },
  cancel: { title: 'Cancel', does: 'cancels an ACTIVE subscription' },
  restart: { title: 'Restart', does: 'makes a CANCELED subscription ACTIVE again' },
};

const EXAMPLE_DEADLINE = Date.parse('2026-11-02T09:30:10.000Z');

const EXAMPLE_COMMAND_BODIES: Record<CommandName, unknown> = {
  purchase: { user_id: activeSubscriptionExample.user_id },
  cancel: { subscription_id: activeSubscriptionExample.id },
  restart: { subscription_id: activeSubscriptionExample.id },
};

function commandMessage(name: CommandName): AsyncApiMessage {
  const { title, does } = COMMAND_TEXT[name];
  return {
    name: `${name}Command`,
    title: `${title} command`,
    summary: `Asks the consumer to ${name}: it ${does}, and replies.`,
    contentType: 'application/json',
    headers: jsonSchemaOf(commandHeadersSchema),
    payload: jsonSchemaOf(name === 'purchase' ? purchaseCommandSchema : subscriptionCommandSchema),
    'x-amqp-properties': jsonSchemaOf(commandPropertiesSchema),
    examples: [
      {
        name: 'synchronous',
        summary: 'A synchronous call: a deadline, an answer expected on the reply queue',
        headers: { [HEADER_REQUEST_ID]: EXAMPLE_REQUEST_ID, [HEADER_DEADLINE]: EXAMPLE_DEADLINE },
        payload: EXAMPLE_COMMAND_BODIES[name],
      },
    ],
  };
}

const replyMessage: AsyncApiMessage = {
  name: 'reply',
  title: 'Reply',
  summary: 'The outcome of one command: the subscription as it now is, or why nothing changed.',
  description:
    '`"replayed": true` marks a reply stored by an earlier delivery of the same command. ' +
    '`command_expired` is recorded for an expired command and never sent as a reply.',
  contentType: 'application/json',
  headers: jsonSchemaOf(replyHeadersSchema),
  payload: jsonSchemaOf(replySchema),
  'x-amqp-properties': jsonSchemaOf(replyPropertiesSchema),
  examples: [
    {
      name: 'applied',
      summary: 'The command was applied',
      headers: { [HEADER_REQUEST_ID]: EXAMPLE_REQUEST_ID },
      payload: { ok: true, subscription: canceledSubscriptionExample },
    },
    {
      name: 'refused',
      summary: 'A cancel of a subscription that is already canceled',
      headers: { [HEADER_REQUEST_ID]: EXAMPLE_REQUEST_ID },
      payload: {
        ok: false,
        error: {
          code: 'invalid_transition',
          message: 'the subscription is already canceled',
          current_status: 'CANCELED',
        },
      },
    },
  ],
};

const deadLetteredCommandMessage: AsyncApiMessage = {
  name: 'deadLetteredCommand',
  title: 'Dead-lettered command',
  summary: 'A command that ended unapplied, as RabbitMQ moved it off its queue.',
  description:
    'The command as it was sent (body, properties and headers), with the `x-death` headers ' +
    'RabbitMQ adds.',
  contentType: 'application/json',
  headers: jsonSchemaOf(deadLetterHeadersSchema),
  payload: jsonSchemaOf(z.union([purchaseCommandSchema, subscriptionCommandSchema])),
  'x-amqp-properties': jsonSchemaOf(commandPropertiesSchema.partial()),
  examples: [
    {
      name: 'past-deadline',
      summary: 'A synchronous cancel that reached the consumer past its deadline',
      headers: {
        [HEADER_REQUEST_ID]: EXAMPLE_REQUEST_ID,
        [HEADER_DEADLINE]: EXAMPLE_DEADLINE,
        'x-first-death-reason': 'rejected',
        'x-first-death-queue': COMMANDS.cancel.queue,
        'x-first-death-exchange': EXCHANGE,
        'x-death': [
          {
            count: 1,
            reason: 'rejected',
            queue: COMMANDS.cancel.queue,
            exchange: EXCHANGE,
            'routing-keys': [routingKeyFor(COMMANDS.cancel.queue)],
          },
        ],
      },
      payload: EXAMPLE_COMMAND_BODIES.cancel,
    },
  ],
};

const EVENT_TITLES: Record<CloudEventType, string> = {
  'subscription.purchased': 'Subscription purchased',
  'subscription.canceled': 'Subscription canceled',
  'subscription.restarted': 'Subscription restarted',
};

function eventMessage(type: CloudEventType): AsyncApiMessage {
  const title = EVENT_TITLES[type];
  return {
    name: type,
    title,
    summary: `${title}: one applied change, as a CloudEvent (1.0, structured mode).`,
    description:
      '`id` is the change (decimal text, also the `message_id`), `subject` the subscription, ' +
      '`data` the subscription as the change left it and its `version` (0 after the purchase, ' +
      'one more for each later change). Delivery is at least once: deduplicate on `id`.',
    contentType: CLOUD_EVENTS_CONTENT_TYPE,
    headers: jsonSchemaOf(eventHeadersSchema),
    payload: jsonSchemaOf(cloudEventSchema.extend({ type: z.literal(type) })),
    'x-amqp-properties': jsonSchemaOf(eventPropertiesSchema),
    examples: [
      {
        name: type,
        summary: title,
        headers: { [HEADER_REQUEST_ID]: EXAMPLE_REQUEST_ID },
        payload: eventExamples[type],
      },
    ],
  };
}

const ref = ($ref: string): Reference => ({ $ref });
const messageRef = (id: string): Reference => ref(`#/components/messages/${id}`);
const channelMessageRef = (channel: string, id: string): Reference =>
  ref(`#/channels/${channel}/messages/${id}`);

function exchangeBinding(name: string, type: 'direct' | 'fanout' | 'topic'): JsonObject {
  return {
    is: 'routingKey',
    exchange: { name, type, durable: true, autoDelete: false },
    bindingVersion: AMQP_BINDING_VERSION,
  };
}

function queueBinding(name: string, queueArguments: JsonObject): JsonObject {
  return {
    is: 'queue',
    queue: { name, durable: true, exclusive: false, autoDelete: false },
    // Declared by the consumer; a queue redeclared with other arguments is refused.
    'x-arguments': queueArguments,
    bindingVersion: AMQP_BINDING_VERSION,
  };
}

/** Event channel and message ids, `subscriptionCanceled` for `subscription.canceled`. */
function eventId(type: CloudEventType): string {
  return type.replace(/\.(\w)/g, (_match, letter: string) => letter.toUpperCase());
}

/**
 * The AsyncAPI 3.0 document of the messaging side: the commands the producer sends and the
 * consumer applies, their replies and dead letters, and the events the consumer publishes. Built
 * from the names and schemas in contracts, as the services use them.
 */
export function createAsyncApiDocument(): AsyncApiDocument {
  const messages: Record<string, AsyncApiMessage> = {};
  const channels: Record<string, AsyncApiChannel> = {};
  const operations: Record<string, AsyncApiOperation> = {};

  messages['reply'] = replyMessage;
  channels['replies'] = {
    address: DIRECT_REPLY_QUEUE,
    title: 'Replies (direct reply-to)',
    description:
      `RabbitMQ direct reply-to: the producer consumes \`${DIRECT_REPLY_QUEUE}\` without ` +
      "acks and names it in each command's `reply_to`; the consumer publishes the reply to " +
      "that `reply_to` through the default exchange, with the command's `correlation_id`. " +
      'Nothing is declared.',
    messages: { reply: messageRef('reply') },
    bindings: {
      amqp: {
        is: 'queue',
        queue: { name: DIRECT_REPLY_QUEUE },
        bindingVersion: AMQP_BINDING_VERSION,
      },
    },
  };
  const reply = {
    channel: ref('#/channels/replies'),
    messages: [channelMessageRef('replies', 'reply')],
  };

  for (const [name, { queue }] of Object.entries(COMMANDS) as [
    CommandName,
    (typeof COMMANDS)[CommandName],
  ][]) {
    const { title } = COMMAND_TEXT[name];
    const messageId = `${name}Command`;
    const routed = `${name}Commands`;
    const queued = `${name}Queue`;
    messages[messageId] = commandMessage(name);
    channels[routed] = {
      address: routingKeyFor(queue),
      title: `${title} commands`,
      description:
        `Published to the \`${EXCHANGE}\` exchange (direct) with routing key ` +
        `\`${routingKeyFor(queue)}\`, mandatory, on a confirm channel: a command no queue ` +
        'takes is returned, and the producer answers 503.',
      messages: { [messageId]: messageRef(messageId) },
      bindings: { amqp: exchangeBinding(EXCHANGE, 'direct') },
    };
    channels[queued] = {
      address: queue,
      title: `${queue} queue`,
      description:
        `The quorum queue bound to \`${EXCHANGE}\` with \`${routingKeyFor(queue)}\`. ` +
        `Rejected, expired and too often redelivered commands go to \`${DEAD_LETTER_EXCHANGE}\`.`,
      messages: { [messageId]: messageRef(messageId) },
      bindings: { amqp: queueBinding(queue, COMMAND_QUEUE_ARGUMENTS) },
    };
    operations[`send${title}Command`] = {
      action: 'send',
      channel: ref(`#/channels/${routed}`),
      title: `Send a ${name} command`,
      summary: `The producer sends a ${name} command and, unless asynchronous, awaits its reply.`,
      messages: [channelMessageRef(routed, messageId)],
      reply,
      bindings: {
        amqp: {
          deliveryMode: 2,
          mandatory: true,
          timestamp: true,
          bindingVersion: AMQP_BINDING_VERSION,
        },
      },
    };
    operations[`apply${title}Command`] = {
      action: 'receive',
      channel: ref(`#/channels/${queued}`),
      title: `Apply a ${name} command`,
      summary: `The consumer applies a ${name} command and replies to its \`reply_to\`.`,
      description:
        'Acked once the outcome is committed; a message that is not a valid command is ' +
        'answered `invalid_command` and dead-lettered.',
      messages: [channelMessageRef(queued, messageId)],
      reply,
      bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING_VERSION } },
    };
  }

  messages['deadLetteredCommand'] = deadLetteredCommandMessage;
  const deadLetter = { deadLetteredCommand: messageRef('deadLetteredCommand') };
  channels['deadLetters'] = {
    // A fanout: the routing key is the command's own, and is ignored.
    address: null,
    title: `${DEAD_LETTER_EXCHANGE} exchange`,
    description:
      `The dead-letter exchange of the command queues (fanout): each dead letter goes to ` +
      `\`${DEAD_LETTER_QUEUE}\` and \`${UNAPPLIED_QUEUE}\`.`,
    messages: deadLetter,
    bindings: { amqp: exchangeBinding(DEAD_LETTER_EXCHANGE, 'fanout') },
  };
  channels['deadLetterQueue'] = {
    address: DEAD_LETTER_QUEUE,
    title: `${DEAD_LETTER_QUEUE} queue`,
    description: 'Where dead letters wait for an operator to inspect them. No process reads it.',
    messages: deadLetter,
    bindings: { amqp: queueBinding(DEAD_LETTER_QUEUE, { 'x-queue-type': 'quorum' }) },
  };
  channels['unappliedQueue'] = {
    address: UNAPPLIED_QUEUE,
    title: `${UNAPPLIED_QUEUE} queue`,
    description:
      'A copy of each dead letter, for the consumer to record that the command ended ' +
      'unapplied, so that the command resource reads `completed`.',
    messages: deadLetter,
    bindings: { amqp: queueBinding(UNAPPLIED_QUEUE, { 'x-queue-type': 'quorum' }) },
  };
  operations['recordUnappliedCommand'] = {
    action: 'receive',
    channel: ref('#/channels/unappliedQueue'),
    title: 'Record an unapplied command',
    summary: 'The consumer records the outcome of a command that ended unapplied.',
    messages: [channelMessageRef('unappliedQueue', 'deadLetteredCommand')],
    bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING_VERSION } },
  };

  Object.values(CLOUD_EVENT_TYPES).forEach((type) => {
    const id = eventId(type);
    messages[id] = eventMessage(type);
    channels[id] = {
      address: type,
      title: `${type} events`,
      description:
        `Published to the \`${EVENTS_EXCHANGE}\` exchange (topic, durable) with routing key ` +
        `\`${type}\`, once the change is committed. A subscriber binds a queue of its own with ` +
        '`subscription.*`, `#` or this key.',
      messages: { [id]: messageRef(id) },
      bindings: { amqp: exchangeBinding(EVENTS_EXCHANGE, 'topic') },
    };
    operations[`publish${id.charAt(0).toUpperCase()}${id.slice(1)}`] = {
      action: 'send',
      channel: ref(`#/channels/${id}`),
      title: `Publish ${type}`,
      summary: `The consumer publishes one ${type} event per applied change.`,
      messages: [channelMessageRef(id, id)],
      bindings: {
        amqp: { deliveryMode: 2, timestamp: true, bindingVersion: AMQP_BINDING_VERSION },
      },
    };
  });

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Subscription service messaging',
      version: '1.0.0',
      description:
        'The RabbitMQ side of the subscription service. The producer sends each purchase, cancel ' +
        'and restart as a command through a direct exchange to a quorum queue; the consumer ' +
        'applies it to MySQL and replies over direct reply-to. Commands that end unapplied are ' +
        'dead-lettered. Each applied change is published as a CloudEvent on a topic exchange ' +
        'for other services (`npm run events` prints them).',
    },
    defaultContentType: 'application/json',
    servers: {
      rabbitmq: {
        host: 'localhost:5672',
        protocol: 'amqp',
        protocolVersion: '0.9.1',
        description:
          'The broker named by AMQP_URL; `docker compose` publishes it on 127.0.0.1:5672. ' +
          'Every name here lives in the virtual host of that URL.',
      },
    },
    channels,
    operations,
    components: { messages },
  };
}
