import { createHash } from 'node:crypto';
import type { PurchaseCommand, Reply, SubscriptionCommand } from '@subscriptions/contracts';
import type { SubscriptionRepository, SubscriptionTransaction } from './repository';
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

/** Applies one command and says what to answer. */
export type ExecuteCommand = (command: Command, identity: CommandIdentity) => Promise<Reply>;

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

const DUPLICATE_KEY = 1062;

/**
 * Each command in its own transaction: the change, its event and the record of the command
 * commit together or not at all. A command seen before (a redelivery, or a retry with the same
 * Idempotency-Key) changes nothing and gets its stored reply, marked `replayed`.
 */
export function createCommandExecutor(repository: SubscriptionRepository): ExecuteCommand {
  async function once(command: Command, identity: CommandIdentity): Promise<Reply> {
    const commandKey = commandKeyOf(identity);
    const requestHash = requestHashOf(command);
    return repository.inTransaction(async (tx) => {
      if (commandKey) {
        const previous = await tx.findProcessed(commandKey);
        if (previous && previous.requestHash !== requestHash) {
          return {
            ok: false,
            error: {
              code: 'idempotency_key_reused',
              message: 'this Idempotency-Key was used for a different request',
            },
          };
        }
        if (previous) return { ...previous.reply, replayed: true };
      }
      const now = new Date();
      const reply =
        command.name === 'purchase'
          ? await applyPurchase(tx, command.body, now, command.actingUserId)
          : await applyStatusChange(tx, command.name, command.body, now, command.actingUserId);
      if (commandKey) {
        await tx.recordProcessed(
          {
            commandKey,
            requestHash,
            reply,
            idempotencyKey: identity.idempotency?.key,
            messageId: identity.messageId,
          },
          now,
        );
      }
      return reply;
    });
  }

  return async (command, identity) => {
    try {
      return await once(command, identity);
    } catch (error) {
      // A twin committed the same key first; run again to find its record and replay it.
      if ((error as { errno?: number }).errno === DUPLICATE_KEY) return once(command, identity);
      throw error;
    }
  };
}

/** Purchase: a new ACTIVE subscription and its SUBSCRIPTION_PURCHASED event. */
export async function applyPurchase(
  tx: SubscriptionTransaction,
  command: PurchaseCommand,
  now: Date,
  actingUserId?: number,
): Promise<Reply> {
  if (actingUserId !== undefined && actingUserId !== command.user_id) {
    return {
      ok: false,
      error: { code: 'forbidden', message: 'a user may purchase only for themselves' },
    };
  }
  const id = await tx.insertSubscription(command.user_id, now);
  if (id === null) {
    return refuse('user_not_found', `user ${command.user_id} does not exist`);
  }
  await tx.appendEvent(id, PURCHASE.event, now);
  return {
    ok: true,
    subscription: {
      id,
      user_id: command.user_id,
      status: PURCHASE.to,
      created_at: now.toISOString(),
      updated_at: null,
    },
  };
}

/**
 * Cancel or restart. The conditional update decides the transition atomically; only when it
 * did not apply is the row read, to tell "no such subscription" from "wrong status".
 */
export async function applyStatusChange(
  tx: SubscriptionTransaction,
  change: StatusChange,
  command: SubscriptionCommand,
  now: Date,
  actingUserId?: number,
): Promise<Reply> {
  const { from, to, event } = STATUS_CHANGES[change];
  const id = command.subscription_id;
  const applied = await tx.changeStatus(id, from, to, now, actingUserId);
  if (applied) await tx.appendEvent(id, event, now);

  // Another user's subscription looks absent, so its existence does not leak.
  const subscription = await tx.findSubscription(id, actingUserId);
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

function refuse(code: 'user_not_found' | 'subscription_not_found', message: string): Reply {
  return { ok: false, error: { code, message } };
}
