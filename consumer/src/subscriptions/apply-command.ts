import { createHash } from 'node:crypto';
import type {
  PurchaseCommand,
  Reply,
  ReplyError,
  SubscriptionCommand,
  TraceContext,
} from '@subscriptions/contracts';
import {
  type AppliedChange,
  type CommandRecord,
  type CommandRecordKey,
  type CommandResult,
  commandRecordKey,
  type KeyRecord,
  recordKeyText,
  type StatusUpdateResult,
  type SubscriptionRepository,
  type SubscriptionTransaction,
} from '@subscriptions/store';
import { PURCHASE, STATUS_CHANGES, type StatusChange } from './state-machine';

/** `actingUserId` restricts the command to that user's subscriptions (a caller who is not admin). */
export type Command = { actingUserId?: number | undefined } & (
  { name: 'purchase'; body: PurchaseCommand } | { name: StatusChange; body: SubscriptionCommand }
);

/**
 * What makes two deliveries "the same command": the client's key, else the message id. The
 * message id is also the command id its outcome is recorded under, with the request id.
 */
export interface CommandIdentity {
  messageId?: string | undefined;
  idempotency?: { scope: string; key: string } | undefined;
  requestId?: string | undefined;
  /** The trace of the request that sent it: its event is published in the same one. */
  traceContext?: TraceContext | undefined;
}

export interface BatchItem {
  command: Command;
  identity: CommandIdentity;
}

/**
 * What became of a batch's transaction: committed, with the reply to each command in order, or
 * rolled back so that none of it happened, either for a reason that passes (the database is
 * away or lost a race: try again later) or for one that does not (try the commands apart).
 */
export type BatchOutcome =
  | { kind: 'committed'; replies: Reply[] }
  | { kind: 'transient'; error: unknown }
  | { kind: 'failed'; error: unknown };

/** Applies commands in one transaction and says what became of it. */
export type ExecuteBatch = (items: readonly BatchItem[]) => Promise<BatchOutcome>;

/** The first 16 bytes of SHA-256: collisions stay out of reach at any volume this table sees. */
const hash16 = (text: string) => createHash('sha256').update(text).digest().subarray(0, 16);

/** The Idempotency-Key in the scope of its caller, as the key table holds it. */
function keyHashOf({ scope, key }: { scope: string; key: string }): Buffer {
  return hash16(`${scope}:${key}`);
}

/** Fingerprint of what a command asks for: a key reused for another request is refused. */
function requestHashOf(command: Command): Buffer {
  return hash16(JSON.stringify([command.name, command.body]));
}

/**
 * What became of one command of a batch: the reply it gets and what its record keeps. A
 * redelivery keeps nothing more: it is recorded already.
 */
interface Outcome {
  reply: Reply;
  result?: CommandResult;
}

/** A refusal: the reply and the record carry the same error. */
const refusal = (error: ReplyError): Outcome => ({
  reply: { ok: false, error },
  result: { refusal: error },
});

/** A repeat of a command seen before: its reply again, marked, and a record that says the same. */
const replay = ({ reply, result }: Outcome): Outcome => ({
  reply: { ...reply, replayed: true },
  result,
});

const KEY_REUSED = refusal({
  code: 'idempotency_key_reused',
  message: 'this Idempotency-Key was used for a different request',
});

/**
 * One transaction for a batch of commands (a batch of one is a single command): every change,
 * its event and the record of each command commit together or not at all. A command seen
 * before (a redelivery, or a retry with the same Idempotency-Key) changes nothing and gets its
 * stored reply, marked `replayed`. If the transaction fails, none of it happened; the caller
 * retries it or splits it to find the command at fault.
 */
export function createBatchExecutor(repository: SubscriptionRepository): ExecuteBatch {
  const attempt = (items: readonly BatchItem[]) =>
    repository.inTransaction((tx) => applyBatch(tx, items, new Date()));
  return async (items) => {
    let outcome = await attempt(items);
    // Another delivery of one of these commands committed meanwhile: once more, and it replays.
    if (outcome.kind === 'duplicate') outcome = await attempt(items);
    switch (outcome.kind) {
      case 'committed':
        return { kind: 'committed', replies: outcome.value };
      // Still a duplicate: the row is there but this node cannot see it yet (a cluster's node
      // applies another's commit a moment later). Retried with the others, it replays.
      case 'duplicate':
      case 'transient':
        return { kind: 'transient', error: outcome.error };
      default:
        return { kind: 'failed', error: outcome.error };
    }
  };
}

/**
 * How a delivery is found in the records (by its command id, and by its Idempotency-Key if it
 * has one) and how it is matched with other deliveries of the same command in its batch.
 */
interface DeliveryKeys {
  record: CommandRecordKey | null;
  /** The scoped Idempotency-Key's hash, if the client sent one. */
  keyHash: Buffer | null;
  /** Deliveries that share it carry the same command: the key, else the command id. */
  sameCommandAs: string | null;
}

function deliveryKeysOf({ identity }: BatchItem): DeliveryKeys {
  const record = identity.messageId ? commandRecordKey(identity.messageId) : null;
  const keyHash = identity.idempotency ? keyHashOf(identity.idempotency) : null;
  const sameCommandAs = keyHash
    ? `key:${keyHash.toString('hex')}`
    : record
      ? `record:${recordKeyText(record)}`
      : null;
  return { record, keyHash, sameCommandAs };
}

async function applyBatch(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  now: Date,
): Promise<Reply[]> {
  const deliveryKeys = items.map(deliveryKeysOf);
  const hashes = items.map(({ command }) => requestHashOf(command));
  // Every purchase a caller may make goes ahead in the first round trip, beside the look-ups
  // that say whether it repeats a command seen before: one round trip fewer per batch. The few
  // that do repeat one are withdrawn below, before the commit.
  const purchases = items.flatMap(({ command }, index) =>
    command.name === 'purchase' && mayPurchase(command) ? [index] : [],
  );
  const { recorded, keyed, created } = await tx.lookUpAndPurchase({
    records: unique(
      deliveryKeys.map(({ record }) => record),
      recordKeyText,
    ),
    keys: unique(
      deliveryKeys.map(({ keyHash }) => keyHash),
      (hash) => hash.toString('hex'),
    ),
    purchases: {
      userIds: purchases.map((index) => (items[index]?.command.body as PurchaseCommand).user_id),
      status: PURCHASE.to,
      now,
    },
  });
  /** The subscription each purchase created, by its item's index; null: no such user. */
  const subscriptionIds = new Map(
    purchases.map((index, position) => [index, created[position] ?? null]),
  );

  const outcomes: (Outcome | undefined)[] = items.map(() => undefined);
  /** The first delivery of each command in this batch; the others repeat it. */
  const firstDelivery = new Map<string, number>();
  /** The commands this batch applies: neither recorded before nor repeated within the batch. */
  const toApply: number[] = [];
  items.forEach((_, index) => {
    const { record, keyHash, sameCommandAs } = deliveryKeys[index] as DeliveryKeys;
    const redelivered = record ? recorded.get(recordKeyText(record)) : undefined;
    if (redelivered) {
      outcomes[index] = { reply: { ...redelivered.reply, replayed: true } };
      return;
    }
    const used = keyHash ? keyed.get(keyHash.toString('hex')) : undefined;
    if (used) {
      const same = used.requestHash.equals(hashes[index] as Buffer);
      outcomes[index] = same ? replay(used) : KEY_REUSED;
      return;
    }
    // A repeat later in this batch is answered from the first delivery, below.
    if (sameCommandAs !== null) {
      if (firstDelivery.has(sameCommandAs)) return;
      firstDelivery.set(sameCommandAs, index);
    }
    toApply.push(index);
  });

  const events: AppliedChange[] = [];
  const kept = applyPurchases(items, toApply, subscriptionIds, outcomes, events, now);
  tx.withdrawPurchases(
    [...subscriptionIds.values()].filter((id): id is number => id !== null && !kept.has(id)),
  );
  await applyStatusChanges(tx, items, toApply, outcomes, events, now);
  tx.appendEvents(events, now);

  items.forEach((_, index) => {
    if (outcomes[index] !== undefined) return;
    const first = firstDelivery.get(deliveryKeys[index]?.sameCommandAs ?? '') ?? index;
    const same = (hashes[index] as Buffer).equals(hashes[first] as Buffer);
    outcomes[index] = same ? replay(outcomes[first] as Outcome) : KEY_REUSED;
  });

  // One record per command id: the same message twice in a batch (a re-publish) is one command.
  const records = new Map<string, CommandRecord>();
  const keys: KeyRecord[] = [];
  items.forEach(({ identity }, index) => {
    const { record, keyHash } = deliveryKeys[index] as DeliveryKeys;
    const result = outcomes[index]?.result;
    if (!record || !result) return;
    const text = recordKeyText(record);
    if (!records.has(text)) {
      records.set(text, { key: record, result, requestId: identity.requestId });
    }
    // The key stands for the request that first used it: its command's record is the outcome.
    if (keyHash && toApply.includes(index)) {
      keys.push({ keyHash, requestHash: hashes[index] as Buffer, command: record });
    }
  });
  tx.recordCommands([...records.values()], now);
  tx.recordKeys(keys);
  return outcomes.map((outcome) => (outcome as Outcome).reply);
}

/** The values that are there, each once (by `name`). */
function unique<T>(values: readonly (T | null)[], name: (value: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const value of values) if (value !== null) seen.set(name(value), value);
  return [...seen.values()];
}

/** A caller who is not admin may purchase only for themselves. */
const mayPurchase = ({
  actingUserId,
  body,
}: {
  actingUserId?: number | undefined;
  body: PurchaseCommand;
}) => actingUserId === undefined || actingUserId === body.user_id;

/**
 * Purchases of the batch, from the subscriptions the first round trip created: a command that
 * may purchase gets the one created for it, or `user_not_found` when there was none to create.
 * Returns the ids it kept; any other subscription created for the batch is to be withdrawn.
 */
function applyPurchases(
  items: readonly BatchItem[],
  toApply: readonly number[],
  subscriptionIds: ReadonlyMap<number, number | null>,
  outcomes: (Outcome | undefined)[],
  events: AppliedChange[],
  now: Date,
): Set<number> {
  const kept = new Set<number>();
  for (const index of toApply) {
    const { command, identity } = items[index] as BatchItem;
    if (command.name !== 'purchase') continue;
    if (!mayPurchase(command)) {
      const message = 'a user may purchase only for themselves';
      outcomes[index] = refusal({ code: 'forbidden', message });
      continue;
    }
    const id = subscriptionIds.get(index) ?? null;
    if (id === null) {
      const message = `user ${command.body.user_id} does not exist`;
      outcomes[index] = refusal({ code: 'user_not_found', message });
      continue;
    }
    kept.add(id);
    outcomes[index] = {
      reply: {
        ok: true,
        subscription: {
          id,
          user_id: command.body.user_id,
          status: PURCHASE.to,
          created_at: now.toISOString(),
          updated_at: null,
        },
      },
      result: { eventIndex: events.length },
    };
    events.push({
      subscriptionId: id,
      type: PURCHASE.event,
      version: 0,
      requestId: identity.requestId,
      traceContext: identity.traceContext,
    });
  }
  return kept;
}

/**
 * Cancels and restarts of the batch, in order and in one round trip. Each conditional update
 * decides its transition atomically; the row read right after it gives the reply, or tells
 * "no such subscription" from "wrong status".
 */
async function applyStatusChanges(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  toApply: readonly number[],
  outcomes: (Outcome | undefined)[],
  events: AppliedChange[],
  now: Date,
): Promise<void> {
  const changes = toApply.flatMap((index) => {
    const { command } = items[index] as BatchItem;
    return command.name === 'purchase' ? [] : [{ index, change: command.name, command }];
  });
  const updated = await tx.changeStatuses(
    changes.map(({ change, command }) => ({
      id: command.body.subscription_id,
      from: STATUS_CHANGES[change].from,
      to: STATUS_CHANGES[change].to,
      ownerId: command.actingUserId,
    })),
    now,
  );
  changes.forEach(({ index, change, command }, position) => {
    const { applied, subscription, version } = updated[position] as StatusUpdateResult;
    const id = command.body.subscription_id;
    // Another user's subscription looks absent, so its existence does not leak.
    if (subscription === null) {
      const message = `subscription ${id} does not exist`;
      outcomes[index] = refusal({ code: 'subscription_not_found', message });
      return;
    }
    if (!applied) {
      outcomes[index] = refusal({
        code: 'invalid_transition',
        message: `cannot ${change} a subscription that is ${subscription.status}`,
        current_status: subscription.status,
      });
      return;
    }
    const { requestId, traceContext } = (items[index] as BatchItem).identity;
    outcomes[index] = { reply: { ok: true, subscription }, result: { eventIndex: events.length } };
    events.push({
      subscriptionId: id,
      type: STATUS_CHANGES[change].event,
      version,
      requestId,
      traceContext,
    });
  });
}
