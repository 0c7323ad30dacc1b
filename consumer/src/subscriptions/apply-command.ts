import { createHash } from 'node:crypto';
import type { PurchaseCommand, Reply, SubscriptionCommand } from '@subscriptions/contracts';
import type {
  AppliedChange,
  ProcessedRecord,
  StatusUpdateResult,
  SubscriptionRepository,
  SubscriptionTransaction,
} from './repository';
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
  const attempt = (items: readonly BatchItem[]) =>
    repository.inTransaction((tx) => applyBatch(tx, items, new Date()));
  return async (items) => {
    let outcome = await attempt(items);
    // A twin of one of these commands committed meanwhile: once more, and it replays.
    if (outcome.kind === 'duplicate') outcome = await attempt(items);
    switch (outcome.kind) {
      case 'committed':
        return { kind: 'committed', replies: outcome.value };
      case 'transient':
        return { kind: 'transient', error: outcome.error };
      default:
        return { kind: 'failed', error: outcome.error };
    }
  };
}

async function applyBatch(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  now: Date,
): Promise<Reply[]> {
  const keys = items.map(({ identity }) => commandKeyOf(identity));
  const hashes = items.map(({ command }) => requestHashOf(command));
  const { processed: stored, users } = await tx.lookUp({
    commandKeys: [...new Set(keys.filter((key): key is string => key !== null))],
    userIds: [
      ...new Set(
        items.flatMap(({ command }) =>
          command.name === 'purchase' && mayPurchase(command) ? [command.body.user_id] : [],
        ),
      ),
    ],
  });

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

  const events: AppliedChange[] = [];
  await applyPurchases(tx, items, fresh, users, replies, events, now);
  await applyStatusChanges(tx, items, fresh, replies, events, now);
  tx.appendEvents(events, now);

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
  tx.recordProcessedMany(records, now);
  tx.recordOutcomes(
    items.flatMap(({ identity }, index) =>
      identity.messageId
        ? [
            {
              commandId: identity.messageId,
              reply: replies[index] as Reply,
              requestId: identity.requestId,
            },
          ]
        : [],
    ),
    now,
  );
  return replies as Reply[];
}

/** A caller who is not admin may purchase only for themselves. */
const mayPurchase = ({
  actingUserId,
  body,
}: {
  actingUserId?: number | undefined;
  body: PurchaseCommand;
}) => actingUserId === undefined || actingUserId === body.user_id;

/** Purchases of the batch, in one multi-row insert whatever their number. */
async function applyPurchases(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  fresh: readonly number[],
  users: ReadonlySet<number>,
  replies: (Reply | undefined)[],
  events: AppliedChange[],
  now: Date,
): Promise<void> {
  const creatable = fresh.flatMap((index) => {
    const { command } = items[index] as BatchItem;
    if (command.name !== 'purchase') return [];
    if (!mayPurchase(command)) {
      replies[index] = refuse('forbidden', 'a user may purchase only for themselves');
      return [];
    }
    if (!users.has(command.body.user_id)) {
      replies[index] = refuse('user_not_found', `user ${command.body.user_id} does not exist`);
      return [];
    }
    return [{ index, command }];
  });
  const ids = await tx.insertSubscriptions(
    creatable.map(({ command }) => command.body.user_id),
    PURCHASE.to,
    now,
  );
  creatable.forEach(({ index, command }, position) => {
    const id = ids[position] as number;
    const { requestId } = (items[index] as BatchItem).identity;
    events.push({ subscriptionId: id, type: PURCHASE.event, version: 0, requestId });
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
 * Cancels and restarts of the batch, in order and in one round trip. Each conditional update
 * decides its transition atomically; the row read right after it gives the reply, or tells
 * "no such subscription" from "wrong status".
 */
async function applyStatusChanges(
  tx: SubscriptionTransaction,
  items: readonly BatchItem[],
  fresh: readonly number[],
  replies: (Reply | undefined)[],
  events: AppliedChange[],
  now: Date,
): Promise<void> {
  const changes = fresh.flatMap((index) => {
    const { command } = items[index] as BatchItem;
    return command.name === 'purchase' ? [] : [{ index, change: command.name, command }];
  });
  const results = await tx.changeStatuses(
    changes.map(({ change, command }) => ({
      id: command.body.subscription_id,
      from: STATUS_CHANGES[change].from,
      to: STATUS_CHANGES[change].to,
      ownerId: command.actingUserId,
    })),
    now,
  );
  changes.forEach(({ index, change, command }, position) => {
    const { applied, subscription, version } = results[position] as StatusUpdateResult;
    const id = command.body.subscription_id;
    // Another user's subscription looks absent, so its existence does not leak.
    if (subscription === null) {
      replies[index] = refuse('subscription_not_found', `subscription ${id} does not exist`);
      return;
    }
    if (!applied) {
      replies[index] = {
        ok: false,
        error: {
          code: 'invalid_transition',
          message: `cannot ${change} a subscription that is ${subscription.status}`,
          current_status: subscription.status,
        },
      };
      return;
    }
    const { requestId } = (items[index] as BatchItem).identity;
    events.push({ subscriptionId: id, type: STATUS_CHANGES[change].event, version, requestId });
    replies[index] = { ok: true, subscription };
  });
}

function refuse(
  code: 'user_not_found' | 'subscription_not_found' | 'forbidden',
  message: string,
): Reply {
  return { ok: false, error: { code, message } };
}
