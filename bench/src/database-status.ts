import mysql from 'mysql2/promise';
import type { Cleanup } from '../../test-support/cleanup';
import type { MysqlServer } from '../../test-support/database';

/** What the database did per answered request, by counter (statements, rows, fsyncs, ...). */
export type DatabaseWork = Record<string, number>;

/** Server counters read before and after a cell (`SHOW GLOBAL STATUS`), and what they mean. */
const COUNTERS: Record<string, string> = {
  Questions: 'statements',
  Com_commit: 'commits',
  Innodb_data_fsyncs: 'fsyncs',
  Innodb_buffer_pool_read_requests: 'page reads',
};

/**
 * Counts the work the database does during a cell, from its global status: the server is the
 * bench's own (`--db-cpu`), so between two readings it served only the design under load.
 */
export interface DatabaseStatus {
  start(): Promise<void>;
  /** Each counter's growth since `start`, divided by `requests`. */
  stop(requests: number): Promise<DatabaseWork>;
}

export async function watchDatabaseStatus(
  server: MysqlServer,
  cleanup: Cleanup,
): Promise<DatabaseStatus> {
  const connection = await mysql.createConnection(server);
  cleanup.add('close the database status connection', () => connection.end());
  const read = async () => {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS');
    return new Map(rows.map((row) => [String(row['Variable_name']), Number(row['Value'])]));
  };
  let before = new Map<string, number>();
  return {
    async start() {
      before = await read();
    },
    async stop(requests) {
      const after = await read();
      return Object.fromEntries(
        Object.entries(COUNTERS).map(([counter, name]) => [
          name,
          requests > 0 ? ((after.get(counter) ?? 0) - (before.get(counter) ?? 0)) / requests : 0,
        ]),
      );
    },
  };
}
