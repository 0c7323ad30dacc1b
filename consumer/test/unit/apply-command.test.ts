import { describe, expect, it } from '@jest/globals';
import type { Reply, Subscription } from '@subscriptions/contracts';
import {
  type AppliedChange,
  type CommandRecord,
  commandRecordKey,
  type KeyRecord,
  recordKeyText,
  type StatusUpdate,
  type StatusUpdateResult,
  type SubscriptionRepository,
  type SubscriptionTransaction,
} from '@subscriptions/store';
import { type BatchItem, createBatchExecutor } from '../../src/subscriptions/apply-command';

const subscription = (id: number, status: Subscription['status']): Subscription => ({
  id,
  user_id: 5,
  status,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: null,
});

/** A transaction that answers from the test's rows and keeps what the batch wrote. */
function fakeRepository(rows: {
  recorded: Map<string, { reply: Reply; result: { eventId: number } }>;
  users: number[];
  statuses: Record<number, StatusUpdateResult>;
}) {
  const written = {
    events: [] as AppliedChange[],
    records: [] as CommandRecord[],
    keys: [] as KeyRecord[],
    withdrawn: [] as number[],
  };
  let nextId = 100;
  const tx: SubscriptionTransaction = {
    lookUpAndPurchase: async ({ purchases }) => ({
      recorded: rows.recorded,
      keyed: new Map(),
      created: purchases.userIds.map((userId) => (rows.users.includes(userId) ? nextId++ : null)),
    }),
    withdrawPurchases: (ids) => void written.withdrawn.push(...ids),
    changeStatuses: async (updates: readonly StatusUpdate[]) =>
      updates.map(({ id }) => rows.statuses[id] as StatusUpdateResult),
    appendEvents: (events) => void written.events.push(...events),
    recordCommands: (records) => void written.records.push(...records),
    recordKeys: (keys) => void written.keys.push(...keys),
  };
  const repository: SubscriptionRepository = {
    inTransaction: async (work) => ({ kind: 'committed', value: await work(tx) }),
    recordUnapplied: async () => ({ kind: 'committed', value: undefined }),
    purgeRecordsBefore: async () => 0,
    ping: async () => undefined,
  };
  return { repository, written };
}

const purchase = (messageId: string, userId: number, actingUserId?: number): BatchItem => ({
  command: { name: 'purchase', body: { user_id: userId }, actingUserId },
  identity: { messageId, requestId: `req-${messageId}` },
});
const change = (messageId: string, name: 'cancel' | 'restart', id: number): BatchItem => ({
  command: { name, body: { subscription_id: id } },
  identity: { messageId, requestId: `req-${messageId}` },
});
const keyed = (item: BatchItem, key: string): BatchItem => ({
  ...item,
  identity: { ...item.identity, idempotency: { scope: 'user-5', key } },
});

/** What a command's record says: its event (by its index in the batch) or its refusal. */
function recorded(record: CommandRecord | undefined): string {
  if (record === undefined) return 'none';
  const { result } = record;
  if ('refusal' in result) return result.refusal.code;
  return 'eventIndex' in result ? `event ${result.eventIndex}` : `event id ${result.eventId}`;
}

describe('a batch of commands', () => {
  it('records each command once, with the outcome its reply gives', async () => {
    const stored: Reply = { ok: true, subscription: subscription(1, 'ACTIVE') };
    const { repository, written } = fakeRepository({
      recorded: new Map([
        [recordKeyText(commandRecordKey('m-again')), { reply: stored, result: { eventId: 1 } }],
      ]),
      users: [5, 7],
      statuses: {
        10: { applied: true, subscription: subscription(10, 'CANCELED'), version: 1 },
        11: { applied: false, subscription: subscription(11, 'CANCELED'), version: 1 },
        12: { applied: false, subscription: null, version: 0 },
      },
    });
    const items = [
      purchase('m-bought', 5),
      purchase('m-no-user', 9),
      purchase('m-forbidden', 5, 6),
      change('m-canceled', 'cancel', 10),
      change('m-refused', 'cancel', 11),
      change('m-missing', 'restart', 12),
      keyed(purchase('m-keyed', 7), 'k'),
      keyed(purchase('m-repeat', 7), 'k'),
      keyed(purchase('m-other', 5), 'k'),
      purchase('m-again', 5),
    ];

    const outcome = await createBatchExecutor(repository)(items);

    if (outcome.kind !== 'committed') throw new Error(`batch ${outcome.kind}`);
    const byId = new Map(written.records.map((record) => [recordKeyText(record.key), record]));
    const results = items.map(({ identity }, index) => {
      const reply = outcome.replies[index] as Reply;
      const record = byId.get(recordKeyText(commandRecordKey(identity.messageId ?? '')));
      return {
        command: identity.messageId,
        reply: reply.ok
          ? `${reply.subscription.status}${reply.replayed ? ' replayed' : ''}`
          : reply.error.code,
        record: recorded(record),
      };
    });
    expect(results).toEqual([
      { command: 'm-bought', reply: 'ACTIVE', record: 'event 0' },
      { command: 'm-no-user', reply: 'user_not_found', record: 'user_not_found' },
      { command: 'm-forbidden', reply: 'forbidden', record: 'forbidden' },
      { command: 'm-canceled', reply: 'CANCELED', record: 'event 2' },
      { command: 'm-refused', reply: 'invalid_transition', record: 'invalid_transition' },
      { command: 'm-missing', reply: 'subscription_not_found', record: 'subscription_not_found' },
      { command: 'm-keyed', reply: 'ACTIVE', record: 'event 1' },
      { command: 'm-repeat', reply: 'ACTIVE replayed', record: 'event 1' },
      { command: 'm-other', reply: 'idempotency_key_reused', record: 'idempotency_key_reused' },
      // A redelivery is answered from its record, and recorded no second time.
      { command: 'm-again', reply: 'ACTIVE replayed', record: 'none' },
    ]);
    // A refusal's record keeps the very error its reply carried.
    for (const [index, reply] of outcome.replies.entries()) {
      if (reply.ok) continue;
      const record = byId.get(
        recordKeyText(commandRecordKey(items[index]?.identity.messageId ?? '')),
      );
      expect(record?.result).toEqual({ refusal: reply.error });
    }
    expect(written.events.map(({ type, subscriptionId }) => [type, subscriptionId])).toEqual([
      ['SUBSCRIPTION_PURCHASED', 100],
      ['SUBSCRIPTION_PURCHASED', 101],
      ['SUBSCRIPTION_CANCELED', 10],
    ]);
    expect(written.keys).toHaveLength(1);
    // Created in the first round trip beside the look-ups, the repeats' subscriptions go again.
    expect(written.withdrawn).toEqual([102, 103, 104]);
  });
});

describe('a batch that meets a duplicate', () => {
  const duplicateEveryTime: SubscriptionRepository = {
    inTransaction: async () => ({ kind: 'duplicate', error: new Error('Duplicate entry') }),
    recordUnapplied: async () => ({ kind: 'committed', value: undefined }),
    purgeRecordsBefore: async () => 0,
    ping: async () => undefined,
  };

  it('is retried later, not failed, when the row it collides with cannot be seen yet', async () => {
    const outcome = await createBatchExecutor(duplicateEveryTime)([purchase('m-unseen', 5)]);
    expect(outcome.kind).toBe('transient');
  });
});
