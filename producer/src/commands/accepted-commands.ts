import type { CommandTicket } from './command-ids';

/** A command accepted asynchronously: its id, and what the id says of it. */
export interface AcceptedCommand {
  id: string;
  ticket: CommandTicket;
}

export interface AcceptedCommands {
  /** The command accepted under this request identity, while it is kept. */
  find(identity: string): AcceptedCommand | undefined;
  remember(identity: string, command: AcceptedCommand): void;
}

/**
 * The asynchronous commands this process accepted with an Idempotency-Key, so a repeat of the
 * request answers the same command while it is pending. The oldest go first past `capacity`
 * or `retentionMs`. A repeat that reaches another producer, or this one after a restart, gets a
 * command of its own; the consumer applies the change once and both complete alike.
 */
export function createAcceptedCommands(options: {
  capacity: number;
  retentionMs: number;
  now?: () => number;
}): AcceptedCommands {
  const { capacity, retentionMs, now = Date.now } = options;
  // A Map iterates in insertion order: the first entry is the oldest.
  const accepted = new Map<string, AcceptedCommand>();
  return {
    find(identity) {
      const command = accepted.get(identity);
      if (command && command.ticket.acceptedAt + retentionMs > now()) return command;
      accepted.delete(identity);
      return undefined;
    },
    remember(identity, command) {
      accepted.delete(identity);
      accepted.set(identity, command);
      for (const oldest of accepted.keys()) {
        if (accepted.size <= capacity) break;
        accepted.delete(oldest);
      }
    },
  };
}
