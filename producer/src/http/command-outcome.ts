import type { CommandName, Reply, ReplyError, Subscription } from '@subscriptions/contracts';
import type { CommandOutcome } from '@subscriptions/store';
import type { CommandTicket } from '../commands/command-ids';
import { AppError } from '../errors';
import { PROBLEMS, problemBody } from './problem';

/** Seconds a client should wait before polling a pending command again. */
export const POLL_AFTER_SECONDS = 1;

/** The path of the command resource. */
export const commandLocation = (commandId: string) => `/api/v1/commands/${commandId}`;

/** The status a command that was applied answers with. */
export const SUCCESS_STATUS: Record<CommandName, number> = {
  purchase: 201,
  cancel: 200,
  restart: 200,
};

/** The consumer's refusal as the AppError the error handler answers it with. */
export function replyError({ code, message, current_status }: ReplyError): AppError {
  switch (code) {
    case 'user_not_found':
    case 'subscription_not_found':
    case 'idempotency_key_reused':
    case 'forbidden':
    case 'command_expired':
      return new AppError(code, message);
    case 'invalid_transition':
      return new AppError(code, message, { current_status });
    case 'invalid_command':
    case 'internal_error':
      return new AppError('internal_error', 'the command could not be applied');
  }
}

/** The subscription, or the consumer's refusal thrown as an AppError. */
export function unwrap(reply: Reply): Subscription {
  if (reply.ok) return reply.subscription;
  throw replyError(reply.error);
}

/** What the synchronous call answers for `reply`: its status and body. */
export function commandResponse(
  type: CommandName,
  reply: Reply,
  requestId: string | null,
): { status: number; body: unknown } {
  if (reply.ok) return { status: SUCCESS_STATUS[type], body: reply.subscription };
  const error = replyError(reply.error);
  return {
    status: PROBLEMS[error.code].status,
    body: problemBody(error.code, error.message, error.extra, requestId),
  };
}

/** The command resource (docs/contract.md, "Command"). */
export function commandResource(
  id: string,
  ticket: CommandTicket,
  outcome: CommandOutcome | null,
): Record<string, unknown> {
  return {
    id,
    type: ticket.type,
    state: outcome ? 'completed' : 'pending',
    response: outcome ? commandResponse(ticket.type, outcome.reply, outcome.requestId) : null,
    accepted_at: new Date(ticket.acceptedAt).toISOString(),
    completed_at: outcome ? outcome.completedAt.toISOString() : null,
  };
}
