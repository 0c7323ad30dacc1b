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

/**
 * How statements travel. `packed`: several in one packet, a round trip each call (one server).
 * `one-by-one`: a statement a round trip, on a MariaDB Galera node: there a transaction that
 * another node's commit aborts (a brute-force abort) while its client is between round trips is
 * rolled back silently when the next packet holds several statements, which then run in a new
 * transaction; with the COMMIT among them, the client was told "committed" for a transaction
 * that was gone (measured on MariaDB 10.11 and Galera 26.4 with two nodes taking writes: about
 * 2% of acknowledged commits lost). Sent alone, each statement reports the abort.
 */
export type StatementTravel = 'packed' | 'one-by-one';

export function openTransaction(
  connection: PoolConnection,
  timeoutMs: number,
  travel: StatementTravel = 'packed',
): Transaction {
  let started = false;
  let deferred: Statement[] = [];

  const format = ({ sql, values }: Statement) => (values ? connection.format(sql, values) : sql);

  async function send(statements: readonly Statement[]): Promise<StatementResult[]> {
    const head: Statement[] = started ? [] : [{ sql: 'START TRANSACTION' }];
    const all = [...head, ...deferred, ...statements];
    const skip = all.length - statements.length;
    started = true;
    deferred = [];
    if (travel === 'one-by-one') {
      const list: StatementResult[] = [];
      for (const statement of all) {
        const [result] = await connection.query({ sql: format(statement), timeout: timeoutMs });
        list.push(result);
      }
      return list.slice(skip);
    }
    const sql = all.map(format).join(';\n');
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
  travel: StatementTravel = 'packed',
): Promise<TransactionOutcome<T>> {
  let connection: PoolConnection;
  try {
    connection = await pool.getConnection();
  } catch (error) {
    return { kind: classifyDatabaseError(error), error };
  }
  const transaction = openTransaction(connection, timeoutMs, travel);
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
