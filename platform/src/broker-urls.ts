import { z } from 'zod';

/** Seconds between heartbeats unless the URL says otherwise: a frozen broker is seen in ~2x this. */
const DEFAULT_HEARTBEAT_SECONDS = 5;

/** One broker of the list, with every field amqplib's connect reads spelled out. */
export interface BrokerEndpoint {
  protocol: 'amqp' | 'amqps';
  /** Without the brackets of an IPv6 literal, as a socket wants it. */
  hostname: string;
  port: number;
  username: string;
  password: string;
  /** The URL's path without its slash, still %-escaped: amqplib unescapes it; empty means `/`. */
  vhost: string;
  heartbeat: number;
  frameMax: number | undefined;
  channelMax: number | undefined;
  maxFrameSize: number | undefined;
  locale: string | undefined;
  /** `host:port`, for logs: never the credentials. */
  address: string;
}

const WHOLE_NUMBER_PARAMETERS = ['heartbeat', 'frameMax', 'channelMax', 'maxFrameSize'] as const;

/** The entry as it may be shown in an error: the password masked. */
function maskPassword(entry: string): string {
  return entry.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

function readWholeNumber(url: URL, name: string, shown: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (!/^\d+$/.test(value))
    throw new Error(`${shown} has ${name}=${value}: must be a whole number`);
  return Number(value);
}

/** Reads one entry; throws an Error whose message ends the sentence "entry N ...". */
function readEndpoint(entry: string): BrokerEndpoint {
  if (entry === '') throw new Error('is empty');
  const shown = `"${maskPassword(entry)}"`;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new Error(`${shown} is not an amqp:// or amqps:// URL`);
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new Error(`${shown} is not an amqp:// or amqps:// URL`);
  }
  if (url.hostname === '') throw new Error(`${shown} names no host`);
  const protocol = url.protocol === 'amqp:' ? 'amqp' : 'amqps';
  const port = url.port === '' ? (protocol === 'amqp' ? 5672 : 5671) : Number(url.port);
  let username: string;
  let password: string;
  try {
    // As amqplib reads a string URL: no user and no password means guest/guest.
    const noLogin = url.username === '' && url.password === '';
    username = noLogin ? 'guest' : decodeURIComponent(url.username);
    password = noLogin ? 'guest' : decodeURIComponent(url.password);
  } catch {
    throw new Error(`${shown} has a malformed %-escape in its user or password`);
  }
  const [heartbeat, frameMax, channelMax, maxFrameSize] = WHOLE_NUMBER_PARAMETERS.map((name) =>
    readWholeNumber(url, name, shown),
  );
  return {
    protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    username,
    password,
    vhost: url.pathname.slice(1),
    heartbeat: heartbeat ?? DEFAULT_HEARTBEAT_SECONDS,
    frameMax,
    channelMax,
    maxFrameSize,
    locale: url.searchParams.get('locale') ?? undefined,
    address: `${url.hostname}:${port}`,
  };
}

/** `AMQP_URL` as a list: one URL, or several brokers of one cluster separated by commas. */
export function splitBrokerUrls(value: string | readonly string[]): string[] {
  const entries = typeof value === 'string' ? value.split(',') : value;
  return entries.map((entry) => entry.trim());
}

/** Every entry read, or one readable line per bad entry. */
export function checkBrokerUrls(value: string | readonly string[]): {
  endpoints: BrokerEndpoint[];
  problems: string[];
} {
  const entries = splitBrokerUrls(value);
  const endpoints: BrokerEndpoint[] = [];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    try {
      endpoints.push(readEndpoint(entry));
    } catch (error) {
      const which = entries.length > 1 ? `entry ${index + 1} ` : '';
      problems.push(`${which}${(error as Error).message}`);
    }
  });
  return { endpoints, problems };
}

/** The endpoints of a list known to be good; throws naming every bad entry otherwise. */
export function parseBrokerUrls(value: string | readonly string[]): BrokerEndpoint[] {
  const { endpoints, problems } = checkBrokerUrls(value);
  if (problems.length > 0) throw new Error(`bad broker URL list: ${problems.join('; ')}`);
  return endpoints;
}

/** `AMQP_URL` in a config schema: one issue, so one line, per bad entry. */
export const brokerUrlsSchema = z.string().superRefine((value, context) => {
  for (const problem of checkBrokerUrls(value).problems) {
    context.addIssue({ code: 'custom', message: problem });
  }
});
