import { classifyDatabaseError, type DatabaseFailure } from './database-errors';
import type { Pool, PoolConnection } from 'mysql2/promise';

/** A statement and the values for its `?` placeholders, escaped by the connection. */
export interface Statement {
  sql: string;
  values?: unknown[];
}

/** What one statement answered: rows for a SELECT, a result header for a write. */
export type StatementResult = unknown;

/**
 * One transaction on one connection, spending as few round trips as it can (the connection must
 * allow multiple statements). Every round trip is a wake-up of the database and of this process,
 * and on a busy machine that costs more than the statements themselves, so:
 * - `START TRANSACTION` travels with the first statements;
 * - writes whose result nobody reads (`defer`) wait and travel with the next round trip, in
 *   the order they were issued, at the latest with the `COMMIT`.
 * A failing statement stops the rest of its round trip (the server runs no further statement),
 * so a `COMMIT` behind a failed write never runs.
 */
export interface Transaction {
  /** Runs these statements, after any deferred ones, in one round trip; their results in order. */
  run(statements: readonly Statement[]): Promise<StatementResult[]>;
  /** Queues a write for the next round trip. */
  defer(statement: Statement): void;
  /** Sends what is deferred and commits. */
  commit(): Promise<void>;
  /** Rolls back; resolves false when that failed too and the connection cannot be trusted. */
  rollback(): Promise<boolean>;
}

export function openTransaction(connection: PoolConnection, timeoutMs: number): Transaction {
  let started = false;
  let deferred: Statement[] = [];

  async function send(statements: readonly Statement[]): Promise<StatementResult[]> {
    const head: Statement[] = started ? [] : [{ sql: 'START TRANSACTION' }];
    const all = [...head, ...deferred, ...statements];
    const skip = all.length - statements.length;
    started = true;
    deferred = [];
    const sql = all
      .map(({ sql, values }) => (values ? connection.format(sql, values) : sql))
      .join(';\n');
    const [results] = await connection.query({ sql, timeout: timeoutMs });
    // With one statement the driver answers its result alone, with several an array of them.
    const list = all.length === 1 ? [results] : (results as unknown as StatementResult[]);
    return list.slice(skip);
  }

  return {
    run: (statements) => send(statements),
    defer(statement) {
      deferred.push(statement);
    },
    async commit() {
      await send([{ sql: 'COMMIT' }]);
    },
    async rollback() {
      deferred = [];
      if (!started) return true;
      try {
        await connection.query({ sql: 'ROLLBACK', timeout: timeoutMs });
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** How a transaction ended: committed with what `work` returned, or rolled back, and why. */
export type TransactionOutcome<T> =
  { kind: 'committed'; value: T } | { kind: DatabaseFailure; error: unknown };

/**
 * Runs `work` in one transaction on a connection of its own: commits when `work` resolves,
 * rolls back when it throws. A failure comes back as data saying what it means (transient,
 * duplicate, permanent), so no caller has to read error numbers.
 */
export async function runTransaction<T>(
  pool: Pool,
  timeoutMs: number,
  work: (transaction: Transaction) => Promise<T>,
): Promise<TransactionOutcome<T>> {
  let connection: PoolConnection;
  try {
    connection = await pool.getConnection();
  } catch (error) {
    return { kind: classifyDatabaseError(error), error };
  }
  const transaction = openTransaction(connection, timeoutMs);
  let healthy = true;
  try {
    const value = await work(transaction);
    await transaction.commit();
    return { kind: 'committed', value };
  } catch (error) {
    healthy = await transaction.rollback();
    return { kind: classifyDatabaseError(error), error };
  } finally {
    // A connection whose rollback failed may be half-open: drop it rather than reuse it.
    if (healthy) connection.release();
    else connection.destroy();
  }
}
