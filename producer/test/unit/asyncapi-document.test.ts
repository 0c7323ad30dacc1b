import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { describe, expect, it } from '@jest/globals';
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
  routingKeyFor,
} from '@subscriptions/contracts';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import express from 'express';
import request from 'supertest';
import { createAsyncApiDocument, type AsyncApiChannel } from '../../src/api-docs/asyncapi';
import { createDocsRouter } from '../../src/http/docs-router';
import { renderDocumentFile } from '../../src/api-docs/openapi';

const COMMITTED = path.join(__dirname, '../../../docs/asyncapi.json');

const document = createAsyncApiDocument();
const channels = Object.values(document.channels);

/** The line where two texts part, to point at what changed. */
function firstDifference(expected: string, actual: string): string {
  const want = expected.split('\n');
  const got = actual.split('\n');
  const line = want.findIndex((text, index) => text !== got[index]);
  return `line ${line + 1}: expected ${JSON.stringify(want[line])}, found ${JSON.stringify(got[line])}`;
}

/** The channel at `address` whose AMQP binding says it is a queue, or one routed by an exchange. */
function channelAt(address: string | null, is: 'queue' | 'routingKey'): AsyncApiChannel {
  const found = channels.filter(
    (channel) => channel.address === address && channel.bindings.amqp['is'] === is,
  );
  expect([address, is, found.length]).toEqual([address, is, 1]);
  return found[0] as AsyncApiChannel;
}

function idOf(channel: AsyncApiChannel): string {
  const entry = Object.entries(document.channels).find(([, candidate]) => candidate === channel);
  if (!entry) throw new Error(`no channel at ${channel.address}`);
  return entry[0];
}

/** The message objects a channel carries, with their `$ref`s followed. */
function messagesOf(channel: AsyncApiChannel) {
  return Object.values(channel.messages).map(({ $ref }) => {
    const id = $ref.replace('#/components/messages/', '');
    const message = document.components.messages[id];
    if (!message) throw new Error(`no message ${$ref}`);
    return message;
  });
}

describe('the committed docs/asyncapi.json', () => {
  it('is the document the service serves', async () => {
    const expected = renderDocumentFile(createAsyncApiDocument());
    const actual = await readFile(COMMITTED, 'utf8').catch(() => '');
    if (actual !== expected) {
      throw new Error(
        `docs/asyncapi.json is stale or missing: run npm run openapi (${firstDifference(expected, actual)})`,
      );
    }
  });

  it('is rendered the same way every time', () => {
    expect(renderDocumentFile(createAsyncApiDocument())).toBe(
      renderDocumentFile(createAsyncApiDocument()),
    );
  });
});

describe('the AsyncAPI document', () => {
  it('is a valid AsyncAPI 3.0 document for the official parser', async () => {
    expect(document.asyncapi).toBe('3.0.0');
    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
    // The parser's diagnostics and its DiagnosticSeverity come from two copies of one enum.
    const errors = diagnostics
      .filter((diagnostic) => Number(diagnostic.severity) === Number(DiagnosticSeverity.Error))
      .map(({ code, path: at, message }) => ({ code, at: at.join('.'), message }));
    expect(errors).toEqual([]);
    expect(parsed).toBeDefined();
    expect(parsed?.channels().length).toBe(channels.length);
    expect(parsed?.operations().length).toBe(Object.keys(document.operations).length);
  });

  it('routes each command through the direct exchange to its quorum queue, with the arguments the consumer declares', () => {
    expect(
      Object.values(COMMANDS)
        .map(({ queue }) => queue)
        .sort(),
    ).toEqual([...QUEUES].sort());
    for (const queue of QUEUES) {
      const routed = channelAt(routingKeyFor(queue), 'routingKey');
      expect(routed.bindings.amqp['exchange']).toMatchObject({
        name: EXCHANGE,
        type: 'direct',
        durable: true,
      });
      const queued = channelAt(queue, 'queue');
      expect(queued.bindings.amqp).toMatchObject({
        queue: { name: queue, durable: true },
        'x-arguments': COMMAND_QUEUE_ARGUMENTS,
      });
      expect(messagesOf(queued)).toEqual(messagesOf(routed));
    }
  });

  it('declares every command header and property, and replies on direct reply-to', () => {
    for (const queue of QUEUES) {
      const [command] = messagesOf(channelAt(queue, 'queue'));
      expect(command?.contentType).toBe('application/json');
      expect(Object.keys(command?.headers['properties'] ?? {}).sort()).toEqual(
        [
          HEADER_REQUEST_ID,
          HEADER_DEADLINE,
          HEADER_IDEMPOTENCY_KEY,
          HEADER_IDEMPOTENCY_SCOPE,
          HEADER_ACTING_USER,
        ].sort(),
      );
      expect(command?.['x-amqp-properties']['properties']).toMatchObject({
        delivery_mode: { const: 2 },
        reply_to: { const: DIRECT_REPLY_QUEUE },
      });
    }
    const replies = channelAt(DIRECT_REPLY_QUEUE, 'queue');
    expect(messagesOf(replies).map((message) => message.name)).toEqual(['reply']);
    const repliesRef = `#/channels/${idOf(replies)}`;
    const commandChannels = QUEUES.flatMap((queue) => [
      channelAt(routingKeyFor(queue), 'routingKey'),
      channelAt(queue, 'queue'),
    ]);
    // The producer's send and the consumer's receive of each command: both name the reply.
    const operations = Object.entries(document.operations);
    expect(operations.filter(([, operation]) => operation.reply)).toHaveLength(2 * QUEUES.length);
    for (const [name, operation] of operations) {
      const channel = document.channels[operation.channel.$ref.replace('#/channels/', '')];
      const replied = channel !== undefined && commandChannels.includes(channel);
      expect([name, operation.reply?.channel]).toEqual([
        name,
        replied ? { $ref: repliesRef } : undefined,
      ]);
    }
  });

  it('names the dead-letter exchange and both of its queues', () => {
    expect(channelAt(null, 'routingKey').bindings.amqp['exchange']).toMatchObject({
      name: DEAD_LETTER_EXCHANGE,
      type: 'fanout',
      durable: true,
    });
    for (const queue of [DEAD_LETTER_QUEUE, UNAPPLIED_QUEUE]) {
      expect(channelAt(queue, 'queue').bindings.amqp['queue']).toMatchObject({
        name: queue,
        durable: true,
      });
    }
  });

  it('publishes each event type on the events exchange as a CloudEvent of that type', () => {
    for (const type of Object.values(CLOUD_EVENT_TYPES)) {
      const channel = channelAt(type, 'routingKey');
      expect(channel.bindings.amqp['exchange']).toMatchObject({
        name: EVENTS_EXCHANGE,
        type: 'topic',
        durable: true,
      });
      const [event, ...others] = messagesOf(channel);
      expect(others).toEqual([]);
      expect(event?.contentType).toBe(CLOUD_EVENTS_CONTENT_TYPE);
      expect(event?.payload).toMatchObject({ properties: { type: { const: type } } });
      for (const example of event?.examples ?? []) {
        expect(cloudEventSchema.parse(example.payload).type).toBe(type);
      }
    }
  });

  it('gives every message an example whose headers and payload match its schemas', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [id, message] of Object.entries(document.components.messages)) {
      expect([id, message.examples.length > 0]).toEqual([id, true]);
      const checkHeaders = ajv.compile(message.headers);
      const checkPayload = ajv.compile(message.payload);
      for (const example of message.examples) {
        const where = `${id} example ${example.name}`;
        const headersValid = checkHeaders(example.headers);
        const payloadValid = checkPayload(example.payload);
        expect({ where, headers: headersValid ? null : checkHeaders.errors }).toEqual({
          where,
          headers: null,
        });
        expect({ where, payload: payloadValid ? null : checkPayload.errors }).toEqual({
          where,
          payload: null,
        });
      }
    }
  });
});

describe('GET /api/asyncapi.json', () => {
  const app = express().use('/api', createDocsRouter());

  it('answers 200 with the AsyncAPI document as JSON', async () => {
    const res = await request(app).get('/api/asyncapi.json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual(createAsyncApiDocument());
  });
});
