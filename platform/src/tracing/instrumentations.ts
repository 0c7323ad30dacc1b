import type { Attributes, Span } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { MySQL2Instrumentation } from '@opentelemetry/instrumentation-mysql2';

/** Probes and scrapes: no span, and nothing they do below (a readiness ping's SQL) either. */
const UNTRACED_PATHS = /^\/(?:healthz|readyz|metrics)(?:[/?]|$)/;

/** The messaging attributes of the current conventions, beside the older ones amqplib's spans carry. */
function setMessagingAttributes(span: Span, attributes: Attributes): void {
  span.setAttributes({ 'messaging.system': 'rabbitmq', ...attributes });
}

/**
 * The maintained instrumentations both processes run, as they are configured here: the HTTP server
 * (continuing an incoming `traceparent`), Express's routes, amqplib's publishes and deliveries
 * (the W3C context travels in the message headers), and mysql2's statements. Express middleware
 * get no span of their own (a dozen per request, which say nothing a reader needs); routers keep
 * their empty ones, as the instrumentation needs them to name the route of the HTTP span.
 */
export function createInstrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
    }),
    new ExpressInstrumentation({
      ignoreLayersType: [ExpressLayerType.MIDDLEWARE],
    }),
    new AmqplibInstrumentation({
      publishHook: (span, { exchange, routingKey, content, options }) =>
        setMessagingAttributes(span, {
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'publish',
          'messaging.destination.name': exchange,
          'messaging.rabbitmq.destination.routing_key': routingKey,
          'messaging.message.body.size': content.length,
          ...(options?.messageId !== undefined && { 'messaging.message.id': options.messageId }),
          ...(options?.correlationId !== undefined && {
            'messaging.message.conversation_id': options.correlationId,
          }),
        }),
      consumeHook: (span, { msg }) => {
        const messageId: unknown = msg.properties.messageId;
        const correlationId: unknown = msg.properties.correlationId;
        setMessagingAttributes(span, {
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': msg.fields.exchange,
          'messaging.rabbitmq.destination.routing_key': msg.fields.routingKey,
          'messaging.rabbitmq.message.delivery_tag': msg.fields.deliveryTag,
          'messaging.message.body.size': msg.content.length,
          ...(typeof messageId === 'string' && { 'messaging.message.id': messageId }),
          ...(typeof correlationId === 'string' && {
            'messaging.message.conversation_id': correlationId,
          }),
        });
      },
    }),
    new MySQL2Instrumentation(),
  ];
}
