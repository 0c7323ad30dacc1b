/** MySQL error numbers that say "try again", not "this command is wrong". */
const TRANSIENT_ERRNOS = new Set([
  1040, // too many connections
  1053, // server shutdown in progress
  1205, // lock wait timeout
  1213, // deadlock
  1317, // query interrupted
  2006, // server has gone away
  2013, // lost connection during query
]);

const TRANSIENT_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface DatabaseErrorShape {
  fatal?: boolean;
  errno?: number;
  code?: string;
}

/**
 * A connection lost mid-query (mysql2 marks it fatal, sometimes without a code), a deadlock
 * or a lock wait: the same command can succeed when retried.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { fatal, errno, code } = error as DatabaseErrorShape;
  return (
    fatal === true ||
    (errno !== undefined && TRANSIENT_ERRNOS.has(errno)) ||
    (code !== undefined && TRANSIENT_CODES.has(code))
  );
}
