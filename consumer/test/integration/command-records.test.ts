import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  commandRecordKey,
  createDatabasePool,
  createSubscriptionRepository,
} from '@subscriptions/store';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { purgeExpired } from '../../src/subscriptions/purge';
import {
  type BatchItem,
  createBatchExecutor,
  type ExecuteBatch,
} from '../../src/subscriptions/apply-command';

/** A command id as a producer mints them: the acceptance time (base 36) is its second field. */
const commandId = (acceptedAt: number, nonce: string) =>
  `purchase.${acceptedAt.toString(36)}..MQ.${nonce}.mac`;

describe('command records and Idempotency-Keys', () => {
  let db: TestDatabase;
  let pool: Pool;
  let execute: ExecuteBatch;
  let userId: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 2 });
    execute = createBatchExecutor(createSubscriptionRepository(pool));
    userId = await db.createUser('Records');
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const purchase = (id: string, key?: string, user = userId): BatchItem => ({
    command: { name: 'purchase', body: { user_id: user } },
    identity: {
      messageId: id,
      ...(key === undefined ? {} : { idempotency: { scope: 'tester', key } }),
    },
  });

  async function apply(items: BatchItem[]) {
    const outcome = await execute(items);
    if (outcome.kind !== 'committed') throw new Error(`batch ${outcome.kind}`);
    return outcome.replies;
  }

  async function records(): Promise<{ id_hash: string; event_id: number | null }[]> {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT HEX(id_hash) AS id_hash, event_id FROM command_record ORDER BY accepted_at, id_hash',
    );
    return rows.map((row) => ({
      id_hash: String(row['id_hash']),
      event_id: row['event_id'] === null ? null : Number(row['event_id']),
    }));
  }

  const subscriptionsOfUser = async () => {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription WHERE user_id = ?',
      [userId],
    );
    return Number(rows[0]?.['n']);
  };

  it('applies a message that comes twice in one batch once, and records it once', async () => {
    const before = { records: (await records()).length, rows: await subscriptionsOfUser() };
    const id = commandId(Date.now(), 'twice');
    const [first, second] = await apply([purchase(id), purchase(id)]);
    expect(first).toEqual(expect.objectContaining({ ok: true }));
    expect(second).toEqual({ ...first, replayed: true });
    expect(await subscriptionsOfUser()).toBe(before.rows + 1);
    expect(await records()).toHaveLength(before.records + 1);

    // Redelivered later: the stored reply, rebuilt from its history row, and nothing new.
    const [again] = await apply([purchase(id)]);
    expect(again).toEqual({ ...first, replayed: true });
    expect(await subscriptionsOfUser()).toBe(before.rows + 1);
    expect(await records()).toHaveLength(before.records + 1);
  });

  it('answers a repeat with the same key from its first command, and records the repeat as its own command', async () => {
    const before = await records();
    const [first] = await apply([purchase(commandId(Date.now(), 'key-1'), 'k-1')]);
    const [repeat] = await apply([purchase(commandId(Date.now(), 'key-2'), 'k-1')]);
    expect(repeat).toEqual({ ...first, replayed: true });
    const added = (await records()).slice(before.length);
    // Two commands, one change: both records point at the same history row.
    expect(added).toHaveLength(2);
    expect(added[0]?.event_id).not.toBeNull();
    expect(added[1]?.event_id).toBe(added[0]?.event_id);

    const [reused] = await apply([purchase(commandId(Date.now(), 'key-3'), 'k-1', 1)]);
    expect(reused).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'idempotency_key_reused' }),
    });
  });

  it('keeps a refusal whose message is longer than its column, cut short', async () => {
    const repository = createSubscriptionRepository(pool);
    const id = commandId(Date.now(), 'long-refusal');
    // What a poison body with many unknown keys makes the parser say, quotes included.
    const message = `Unrecognized keys: ${Array.from({ length: 400 }, (_, i) => `"key_${i}"`).join(', ')}`;
    await repository.recordUnapplied(
      { commandId: id, error: { code: 'invalid_command', message }, requestId: 'req-long' },
      new Date(),
    );
    const { acceptedAt, idHash } = commandRecordKey(id);
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT refusal, request_id FROM command_record WHERE accepted_at = ? AND id_hash = ?',
      [acceptedAt, idHash],
    );
    const kept = JSON.parse(String(rows[0]?.['refusal'])) as { code: string; message: string };
    expect(kept.code).toBe('invalid_command');
    expect(kept.message.endsWith('…')).toBe(true);
    expect(message.startsWith(kept.message.slice(0, -1))).toBe(true);
    expect(String(rows[0]?.['refusal']).length).toBeLessThanOrEqual(1024);
    expect(rows[0]?.['request_id']).toBe('req-long');
  });

  it('purges records and keys of commands accepted before the cut-off, oldest first', async () => {
    const old = Date.now() - 48 * 3_600_000;
    await apply([
      purchase(commandId(old, 'old-1'), 'old-key'),
      purchase(commandId(old + 1, 'old-2')),
    ]);
    const fresh = commandId(Date.now(), 'fresh');
    await apply([purchase(fresh, 'fresh-key')]);
    const deleted = await purgeExpired(
      createSubscriptionRepository(pool),
      new Date(Date.now() - 24 * 3_600_000),
      async () => undefined,
    );
    // Two records and one key.
    expect(deleted).toBe(3);
    const [keys] = await db.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM idempotency_key WHERE accepted_at < ?',
      [Date.now() - 24 * 3_600_000],
    );
    expect(Number(keys[0]?.['n'])).toBe(0);
    const { acceptedAt, idHash } = commandRecordKey(fresh);
    const [kept] = await db.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM command_record WHERE accepted_at = ? AND id_hash = ?',
      [acceptedAt, idHash],
    );
    expect(Number(kept[0]?.['n'])).toBe(1);
  });
});
