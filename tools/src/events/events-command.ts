import { EVENTS_EXCHANGE } from '@subscriptions/contracts';
import { describeUnreachable, parseBrokerUrls, type BrokerEndpoint } from '@subscriptions/platform';
import amqp, { type ChannelModel } from 'amqplib';
import { readEventsSettings } from '../settings';
import { subscribeToEvents } from './event-subscription';
import { describeEvent } from './read-event';

/** How long one broker of AMQP_URL may take to answer before the next is tried. */
const CONNECT_TIMEOUT_MS = 5_000;

export const EVENTS_USAGE = `usage: events [--json] [pattern ...]
  Prints each event published on ${EVENTS_EXCHANGE} (AMQP_URL) as it arrives, until Ctrl-C.
  pattern   a topic binding key, e.g. subscription.canceled or subscription.*; default #
  --json    print each event as its CloudEvent JSON, one per line`;

interface EventsArguments {
  patterns: string[];
  json: boolean;
}

/** The arguments, or the line that says what is wrong with them. */
export function parseEventsArguments(args: readonly string[]): EventsArguments | string {
  const patterns: string[] = [];
  let json = false;
  for (const arg of args) {
    if (arg === '--json') json = true;
    else if (arg.startsWith('-')) return `unknown option ${arg}`;
    // A routing key is a short string of at most 255 bytes; words are separated by dots.
    else if (arg === '' || /\s/.test(arg) || Buffer.byteLength(arg) > 255) {
      return `${JSON.stringify(arg)} is not a binding pattern`;
    } else if (!patterns.includes(arg)) patterns.push(arg);
  }
  return { patterns: patterns.length > 0 ? patterns : ['#'], json };
}

/** `listening for all events on ...`, or the patterns when some were given. */
function describeListening(patterns: readonly string[]): string {
  const what = patterns.length === 1 && patterns[0] === '#' ? 'all' : patterns.join(', ');
  return `listening for ${what} events on ${EVENTS_EXCHANGE}`;
}

/** The first broker of the list that answers; throws the last failure when none does. */
async function connectToFirst(endpoints: readonly BrokerEndpoint[]): Promise<ChannelModel> {
  let failure: unknown = new Error('no broker to connect to');
  for (const endpoint of endpoints) {
    try {
      return await amqp.connect(endpoint, { timeout: CONNECT_TIMEOUT_MS });
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/**
 * `npm run events`: binds a queue of its own to the events exchange and prints each event as it
 * arrives, as another service would listen. Ends with 0 on SIGINT or SIGTERM, with 1 when the
 * broker cannot be reached or the subscription is lost.
 */
export async function runEventsCommand(
  args: string[],
  env: Record<string, string | undefined>,
  context: { untilStopped(): Promise<NodeJS.Signals> },
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(EVENTS_USAGE);
    return 0;
  }
  const parsed = parseEventsArguments(args);
  if (typeof parsed === 'string') {
    console.error(`events: ${parsed}\n${EVENTS_USAGE}`);
    return 2;
  }
  const { patterns, json } = parsed;
  const endpoints = parseBrokerUrls(readEventsSettings(env).AMQP_URL);
  const brokerHint = (error: unknown) =>
    describeUnreachable({
      service: 'RabbitMQ',
      address: endpoints.map((endpoint) => endpoint.address).join(', '),
      variables: ['AMQP_URL'],
      credentials: ['the user and password of AMQP_URL'],
      error,
    });

  let model: ChannelModel;
  try {
    model = await connectToFirst(endpoints);
  } catch (error) {
    console.error(`events: ${brokerHint(error)}`);
    return 1;
  }
  // 'close' follows every 'error' and says the same; without a listener an error would throw.
  model.on('error', () => undefined);
  const lost = new Promise<Error>((resolve) => {
    model.on('close', (error?: Error) => resolve(error ?? new Error('connection closed')));
  });

  try {
    const subscription = await subscribeToEvents({
      model,
      patterns,
      onEvent: ({ event, requestId }) =>
        console.log(json ? JSON.stringify(event) : describeEvent(event, requestId)),
      onRefused: ({ routingKey, messageId, reason }) =>
        console.error(
          `events: not a valid event (routing key ${routingKey}, message_id ${messageId ?? '-'}): ${reason}`,
        ),
    });
    const stopped = context.untilStopped();
    console.error(describeListening(patterns));

    const outcome = await Promise.race([stopped.then(() => undefined), subscription.ended, lost]);
    if (outcome !== undefined) {
      console.error(`events: the subscription ended: ${brokerHint(outcome)}`);
      await model.close().catch(() => undefined);
      return 1;
    }
    await subscription.close();
    await model.close();
    return 0;
  } catch (error) {
    console.error(`events: ${brokerHint(error)}`);
    await model.close().catch(() => undefined);
    return 1;
  }
}
