import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { releaseAll } from '../../../test-support/cleanup';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { waitUntil } from '../../../test-support/wait';
import { createEventOutbox, LeaseLostError } from '../../src/event-outbox';
import { createDatabasePool } from '../../src/pools';

/** Short, so that a lease runs out within a test; renewals well inside it. */
const LEASE = { leaseMs: 1_000, renewEveryMs: 200 };
const WAIT_MS = 10_000;

describe("the event relay's lease", () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  /** An outbox on a pool of its own, as each consumer process has. */
  function openOutbox() {
    const pool = createDatabasePool({ ...mysqlServer, database: db.name, connectionLimit: 1 });
    pools.push(pool);
    return createEventOutbox(pool, LEASE);
  }

  async function relayRow() {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT leader, term, published_through, lease_until FROM event_relay WHERE id = 1',
    );
    return rows[0] as {
      leader: string | null;
      term: number;
      published_through: number;
      lease_until: Date | null;
    };
  }

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  // Each test starts with the lease free, whatever the one before left.
  afterEach(async () => {
    await db.pool.query('UPDATE event_relay SET leader = NULL, lease_until = NULL WHERE id = 1');
  });

  afterAll(async () => {
    await releaseAll(pools.map((pool) => pool.end()));
    await db.drop();
  });

  it('is held by one relay at a time; another takes it only once the holder stops renewing and it runs out', async () => {
    const first = openOutbox();
    const second = openOutbox();
    expect(await first.lead()).toBe(true);
    const { term } = await relayRow();
    expect(await second.lead()).toBe(false);

    // While the first renews, the second never gets it, past several lease lengths.
    const renewUntil = Date.now() + 3 * LEASE.leaseMs;
    while (Date.now() < renewUntil) {
      expect(await first.lead()).toBe(true);
      expect(await second.lead()).toBe(false);
    }

    // The first stops renewing, as a frozen process would: the second takes over under a new
    // term, and not before the lease the first last renewed has run out (by the database's
    // clock, which decides).
    const { lease_until: lastLease } = await relayRow();
    await waitUntil('the second relay to take the lease', () => second.lead(), WAIT_MS, 50);
    const [[taken]] = await db.pool.query<RowDataPacket[]>(
      'SELECT term, NOW(3) >= ? AS after_lease FROM event_relay WHERE id = 1',
      [lastLease],
    );
    expect(taken).toEqual({ term: term + 1, after_lease: 1 });
    expect(first.isLeader()).toBe(false);
  });

  it('fences the position: a relay whose lease was taken over cannot move it, and learns it lost', async () => {
    const first = openOutbox();
    const second = openOutbox();
    expect(await first.lead()).toBe(true);
    const before = (await relayRow()).published_through;
    expect(await first.advance(before + 1, new Date())).toBe(before + 1);

    // An operator (or a lease run out) hands the row to the second under a new term.
    await db.pool.query('UPDATE event_relay SET lease_until = NULL WHERE id = 1');
    expect(await second.lead()).toBe(true);

    await expect(first.advance(before + 5, new Date())).rejects.toBeInstanceOf(LeaseLostError);
    expect(first.isLeader()).toBe(false);
    expect((await relayRow()).published_through).toBe(before + 1);
    expect(await second.advance(before + 2, new Date())).toBe(before + 2);
  });

  it('is given up on release, so the next relay need not wait for it to run out', async () => {
    const first = openOutbox();
    const second = openOutbox();
    expect(await first.lead()).toBe(true);
    await first.release();
    expect(await second.lead()).toBe(true);
    expect(first.isLeader()).toBe(false);
  });
});
