import type { PurchaseCommand, Reply, SubscriptionCommand } from '@subscriptions/contracts';
import type { SubscriptionRepository, SubscriptionTransaction } from './repository';
import { PURCHASE, STATUS_CHANGES, type StatusChange } from './state-machine';

export type Command =
  { name: 'purchase'; body: PurchaseCommand } | { name: StatusChange; body: SubscriptionCommand };

/** Applies one command and says what to answer. */
export type ExecuteCommand = (command: Command) => Promise<Reply>;

/** Each command in its own transaction: the change and its event commit together or not at all. */
export function createCommandExecutor(repository: SubscriptionRepository): ExecuteCommand {
  return (command) =>
    repository.inTransaction((tx) => {
      const now = new Date();
      return command.name === 'purchase'
        ? applyPurchase(tx, command.body, now)
        : applyStatusChange(tx, command.name, command.body, now);
    });
}

/** Purchase: a new ACTIVE subscription and its SUBSCRIPTION_PURCHASED event. */
export async function applyPurchase(
  tx: SubscriptionTransaction,
  command: PurchaseCommand,
  now: Date,
): Promise<Reply> {
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
): Promise<Reply> {
  const { from, to, event } = STATUS_CHANGES[change];
  const id = command.subscription_id;
  const applied = await tx.changeStatus(id, from, to, now);
  if (applied) await tx.appendEvent(id, event, now);

  const subscription = await tx.findSubscription(id);
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
