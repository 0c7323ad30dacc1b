import { createHash } from 'node:crypto';
import type {
  EventType,
  PurchaseCommand,
  Reply,
  SubscriptionCommand,
} from '@subscriptions/contracts';
import type {
  ProcessedRecord,
  SubscriptionRepository,
  SubscriptionTransaction,
} from './repository';
import { PURCHASE, STATUS_CHANGES, type StatusChange } from './state-machine';

/** `actingUserId` restricts the command to that user's subscriptions (a caller who is not admin). */
export type Command = { actingUserId?: number | undefined } & (
  { name: 'purchase'; body: PurchaseCommand } | { name: StatusChange; body: SubscriptionCommand }
);

/** What makes two deliveries "the same command": the client's key, else the message id. */
export interface CommandIdentity {
  messageId?: string | undefined;
  idempotency?: { scope: string; key: string } | undefined;
}

export interface BatchItem {
  command: Command;
  identity: CommandIdentity;
}

/** Applies commands in one transaction and says what to answer each, in order. */
export type ExecuteBatch = (items: readonly BatchItem[]) => Promise<Reply[]>;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The processed-command key of a delivery, or `null` when nothing identifies it. */
export function commandKeyOf(identity: CommandIdentity): string | null {
  if (identity.idempotency) {
    return sha256(`key:${identity.idempotency.scope}:${identity.idempotency.key}`);
  }
  return identity.messageId ? sha256(`message:${identity.messageId}`) : null;
}

/** Fingerprint of what a command asks for: a key reused for another request is refused. */
export function requestHashOf(command: Command): string {
  return sha256(JSON.stringify([command.name, command.body]));
}

const KEY_REUSED: Reply = {
  ok: false,
  error: {
    code: 'idempotency_key_reused',
    message: 'this Idempotency-Key was used for a different request',
  },
};

/**
 * One transaction for a batch of commands (a batch of one is a single command): every change,
 * its event and the record of each command commit together or not at all. A command seen
 * before (a redelivery, or a retry with the same Idempotency-Key) changes nothing and gets its
 * stored reply, marked `replayed`. If the transaction fails, none of it happened; the caller
 * retries it or splits it to find the command at fault.
 */
export function createBatchExecutor(repository: SubscriptionRepository): ExecuteBatch {
  return (items) => repository.inTransaction((tx) => applyBatch(tx, items, new Date()));
}

async function applyBatch(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  now: Date,
): Promise<Reply[]> {
  const keys = items.map(({ identity }) => commandKeyOf(identity));
  const hashes = items.map(({ command }) => requestHashOf(command));
  const stored = await tx.findProcessedMany([
    ...new Set(keys.filter((key): key is string => key !== null)),
  ]);

  const replies: (Reply | undefined)[] = items.map(() => undefined);
  const firstWithKey = new Map<string, number>();
  const fresh: number[] = [];
  items.forEach((_, index) => {
    const key = keys[index];
    if (key) {
      const previous = stored.get(key);
      if (previous) {
        replies[index] =
          previous.requestHash === hashes[index]
            ? { ...previous.reply, replayed: true }
            : KEY_REUSED;
        return;
      }
      // A twin later in this batch is answered from the first one, below.
      if (firstWithKey.has(key)) return;
      firstWithKey.set(key, index);
    }
    fresh.push(index);
  });

  const events: { subscriptionId: number; type: EventType }[] = [];
  await applyPurchases(tx, items, fresh, replies, events, now);
  for (const index of fresh) {
    const { command } = items[index] as BatchItem;
    if (command.name === 'purchase') continue;
    replies[index] = await applyStatusChange(tx, command.name, command, events, now);
  }
  await tx.appendEvents(events, now);

  items.forEach((_, index) => {
    if (replies[index] !== undefined) return;
    const first = firstWithKey.get(keys[index] ?? '') ?? index;
    const original = replies[first] as Reply;
    replies[index] = hashes[index] === hashes[first] ? { ...original, replayed: true } : KEY_REUSED;
  });

  const records: ProcessedRecord[] = fresh.flatMap((index) => {
    const key = keys[index];
    const { identity } = items[index] as BatchItem;
    return key
      ? [
          {
            commandKey: key,
            requestHash: hashes[index] as string,
            reply: replies[index] as Reply,
            idempotencyKey: identity.idempotency?.key,
            messageId: identity.messageId,
          },
        ]
      : [];
  });
  await tx.recordProcessedMany(records, now);
  return replies as Reply[];
}

/**
 * Purchases of the batch, in three statements whatever their number: which users exist, one
 * multi-row insert of the subscriptions, and their events with the others at the end.
 */
async function applyPurchases(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  fresh: readonly number[],
  replies: (Reply | undefined)[],
  events: { subscriptionId: number; type: EventType }[],
  now: Date,
): Promise<void> {
  const purchases = fresh.flatMap((index) => {
    const { command } = items[index] as BatchItem;
    return command.name === 'purchase' ? [{ index, command }] : [];
  });
  const allowed = purchases.filter(({ index, command }) => {
    const { actingUserId, body } = command;
    if (actingUserId === undefined || actingUserId === body.user_id) return true;
    replies[index] = refuse('forbidden', 'a user may purchase only for themselves');
    return false;
  });
  const existing = await tx.findUsers([
    ...new Set(allowed.map(({ command }) => command.body.user_id)),
  ]);
  const creatable = allowed.filter(({ index, command }) => {
    if (existing.has(command.body.user_id)) return true;
    replies[index] = refuse('user_not_found', `user ${command.body.user_id} does not exist`);
    return false;
  });
  const ids = await tx.insertSubscriptions(
    creatable.map(({ command }) => command.body.user_id),
    now,
  );
  creatable.forEach(({ index, command }, position) => {
    const id = ids[position] as number;
    events.push({ subscriptionId: id, type: PURCHASE.event });
    replies[index] = {
      ok: true,
      subscription: {
        id,
        user_id: command.body.user_id,
        status: PURCHASE.to,
        created_at: now.toISOString(),
        updated_at: null,
      },
    };
  });
}

/**
 * Cancel or restart. The conditional update decides the transition atomically; the row is then
 * read for the reply, or to tell "no such subscription" from "wrong status".
 */
async function applyStatusChange(
  tx: SubscriptionTransaction,
  change: StatusChange,
  command: Command & { body: SubscriptionCommand },
  events: { subscriptionId: number; type: EventType }[],
  now: Date,
): Promise<Reply> {
  const { from, to, event } = STATUS_CHANGES[change];
  const id = command.body.subscription_id;
  const applied = await tx.changeStatus(id, from, to, now, command.actingUserId);
  if (applied) events.push({ subscriptionId: id, type: event });

  // Another user's subscription looks absent, so its existence does not leak.
  const subscription = await tx.findSubscription(id, command.actingUserId);
  if (subscription === null) {
    return refuse('subscription_not_found', `subscription ${id} does not exist`);
  }
  if (!applied) {
    return {
      ok: false,
      error: {
        code: 'invalid_transition',
        message: `cannot ${change} a subscription that is ${subscription.status}`,
        current_status: subscription.status,
      },
    };
  }
  return { ok: true, subscription };
}

function refuse(
  code: 'user_not_found' | 'subscription_not_found' | 'forbidden',
  message: string,
): Reply {
  return { ok: false, error: { code, message } };
}
