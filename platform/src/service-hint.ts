/** Error codes of a connection that never reached a server: nothing listens, or no route to it. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** mysql2's codes for a server that answered and refused the login. */
const MYSQL_LOGIN_REFUSED_CODES = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
]);

/** The default way to get MySQL and RabbitMQ running on this machine. */
export const COMPOSE_SERVICES_REMEDY =
  'Or start both in Docker: `docker compose up -d mysql rabbitmq` publishes them on 127.0.0.1.';

export interface ServiceTarget {
  /** As a person calls it: `MySQL`, `RabbitMQ`, `the producer`. */
  service: string;
  /** What was tried, without credentials: `127.0.0.1:3306`, `http://localhost:5000`. */
  address: string;
  /** The variables that choose the address, e.g. `['MYSQL_HOST', 'MYSQL_PORT']`. */
  variables: readonly string[];
  /** The variables that hold the login, named when the service refuses it. */
  credentials?: readonly string[];
  /** How to get the service running; defaults to {@link COMPOSE_SERVICES_REMEDY}. */
  remedy?: string;
}

/** True when the connection never reached a server (refused, unknown host, timed out, no route). */
export function isUnreachable(error: unknown): boolean {
  return causesOf(error).some(
    (cause) => UNREACHABLE_CODES.has(codeOf(cause) ?? '') || isBlockedFetchPort(cause),
  );
}

/** True when the server answered but refused the user and password (MySQL or RabbitMQ). */
export function isCredentialsRejected(error: unknown): boolean {
  return causesOf(error).some(
    (cause) => MYSQL_LOGIN_REFUSED_CODES.has(codeOf(cause) ?? '') || isBrokerLoginRefusal(cause),
  );
}

/**
 * One or two lines for a person who started a script that needs `target.service`: what was
 * tried, which variables choose it and how to get it running. No stack: the lines are the story.
 */
export function describeUnreachable(target: ServiceTarget & { error: unknown }): string {
  const { service, address, variables, credentials, remedy, error } = target;
  const why = reasonOf(error);
  if (isCredentialsRejected(error)) {
    const check = credentials?.length ? listOf(credentials) : 'the user and password';
    return `${service} at ${address} rejected the credentials (${why}): check ${check}.`;
  }
  if (isUnreachable(error)) {
    const chosenBy =
      variables.length === 0
        ? ''
        : `; ${listOf(variables)} ${variables.length === 1 ? 'sets' : 'set'} where to look`;
    return [
      `cannot reach ${service} at ${address} (${why})${chosenBy}.`,
      `  ${remedy ?? COMPOSE_SERVICES_REMEDY}`,
    ].join('\n');
  }
  return `${service} at ${address} failed: ${why}`;
}

/** `host:port` of a URL, with the scheme's default port, and never its user or password. */
export function hostAndPort(url: string): string {
  const parsed = new URL(url);
  const defaults: Record<string, string> = {
    'amqp:': '5672',
    'amqps:': '5671',
    'http:': '80',
    'https:': '443',
  };
  return `${parsed.hostname}:${parsed.port || (defaults[parsed.protocol] ?? '')}`;
}

/**
 * The error itself, its `cause` chain and the members of an AggregateError (a dual-stack
 * connect). Read by shape, not `instanceof`: errors made in another realm (a vm, Jest) count too.
 */
function causesOf(error: unknown, depth = 0): unknown[] {
  if (typeof error !== 'object' || error === null || depth > 5) return [];
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  const nested = [...(Array.isArray(errors) ? (errors as unknown[]) : []), cause];
  return [error, ...nested.flatMap((inner) => causesOf(inner, depth + 1))];
}

/** amqplib's handshake error when RabbitMQ refuses the login: `403 (ACCESS-REFUSED)`. */
function isBrokerLoginRefusal(error: unknown): boolean {
  return /\bACCESS[-_]REFUSED\b/.test(messageOf(error) ?? '');
}

/** fetch refuses ports on its blocklist (1, 25, 6000, ...) before it even tries them. */
function isBlockedFetchPort(error: unknown): boolean {
  return messageOf(error) === 'bad port';
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string | undefined {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The most telling short reason: a code (`ECONNREFUSED`) beats a wrapper's message (`fetch failed`). */
function reasonOf(error: unknown): string {
  const causes = causesOf(error);
  const login = causes.find((cause) => MYSQL_LOGIN_REFUSED_CODES.has(codeOf(cause) ?? ''));
  // MySQL's message names the user it refused; RabbitMQ's only says where its log is.
  if (login !== undefined) return messageOf(login) ?? codeOf(login) ?? '';
  if (causes.some(isBrokerLoginRefusal)) {
    return 'ACCESS_REFUSED';
  }
  const coded = causes.find((cause) => UNREACHABLE_CODES.has(codeOf(cause) ?? ''));
  if (coded !== undefined) return codeOf(coded) ?? '';
  if (causes.some(isBlockedFetchPort)) {
    return 'fetch will not connect to that port';
  }
  return messageOf(causes.at(-1)) ?? String(error);
}

function listOf(names: readonly string[]): string {
  return names.length <= 1
    ? (names[0] ?? '')
    : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}
