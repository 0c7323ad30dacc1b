/**
 * What a MySQL failure means for the work that hit it:
 * - `transient`: the server is away, overloaded or lost a race; the same work can succeed later;
 * - `duplicate`: a unique key refused the row: the same work already committed elsewhere;
 * - `permanent`: anything else; running it again fails the same way.
 */
export type DatabaseFailure = 'transient' | 'duplicate' | 'permanent';

/**
 * Error numbers that say "try again", not "this work is wrong". The same list serves writes and
 * reads: a read-only session rarely deadlocks, but when it does, a retry is the answer there too.
 */
const TRANSIENT_ERRNOS = new Set([
  1040, // too many connections
  1053, // server shutdown in progress
  1205, // lock wait timeout
  1213, // deadlock
  1317, // query interrupted
  2006, // server has gone away
  2013, // lost connection during query
]);

/** Socket and driver codes of a server that cannot be reached or stopped answering. */
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

/** ER_DUP_ENTRY. */
const DUPLICATE_ERRNO = 1062;

interface DatabaseErrorShape {
  fatal?: boolean;
  errno?: number;
  code?: string;
}

/**
 * Read by shape, not by class: mysql2 marks a connection lost mid-query `fatal`, sometimes with
 * no code at all, and for us that is the most transient failure there is.
 */
export function classifyDatabaseError(error: unknown): DatabaseFailure {
  if (typeof error !== 'object' || error === null) return 'permanent';
  const { fatal, errno, code } = error as DatabaseErrorShape;
  if (
    fatal === true ||
    (errno !== undefined && TRANSIENT_ERRNOS.has(errno)) ||
    (code !== undefined && TRANSIENT_CODES.has(code))
  ) {
    return 'transient';
  }
  return errno === DUPLICATE_ERRNO ? 'duplicate' : 'permanent';
}
