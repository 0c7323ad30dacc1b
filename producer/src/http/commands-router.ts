import type { CommandOutcome, SubscriptionQueries } from '@subscriptions/store';
import { Router } from 'express';
import type { CommandIds } from '../commands/command-ids';
import { AppError } from '../errors';
import { principalOf } from './auth';
import { commandResource, POLL_AFTER_SECONDS } from './command-outcome';
import { commandPathSchema } from './schemas';
import { nameRoute } from './matched-route';
import { parseOrThrow } from './validation';

/**
 * How long past its deadline a synchronous command may still commit: the consumer checks the
 * deadline before every attempt at a command, and an attempt already under way ends within its
 * statement timeouts (at most four round trips of 8 s, twice when another delivery of it
 * committed meanwhile: 64 s); the rest is room for clocks that disagree.
 */
const DEADLINE_GRACE_MS = 120_000;

/** What a synchronous command with no recorded outcome this long past its deadline ended as. */
function expiredOutcome(deadline: number): CommandOutcome {
  return {
    reply: {
      ok: false,
      error: {
        code: 'command_expired',
        message: 'the command was not applied before its deadline, and never will be',
      },
    },
    requestId: null,
    completedAt: new Date(deadline),
  };
}

/**
 * `/api/v1/commands/{command_id}`: the state of a command and, once completed, the answer the
 * synchronous call would have given. Only its sender or an admin may read it; for anyone else,
 * and past the retention, it does not exist.
 */
export function createCommandsRouter(deps: {
  queries: Pick<SubscriptionQueries, 'findCommandOutcome'>;
  commandIds: CommandIds;
  /** How long outcomes are kept (the Idempotency-Key retention). */
  retentionMs: number;
  now?: () => number;
}): Router {
  const { queries, commandIds, retentionMs, now = Date.now } = deps;
  const router = Router();

  router.get('/:id', nameRoute, async (req, res) => {
    const { id } = parseOrThrow(commandPathSchema, req.params, 'path');
    const ticket = commandIds.read(id);
    const principal = principalOf(res);
    const missing = new AppError('command_not_found', `command ${id} does not exist`);
    if (!ticket || (!principal.admin && ticket.owner !== principal.subject)) throw missing;
    let outcome = await queries.findCommandOutcome(id);
    // Past the retention its record may be purged: nothing is known of it any more.
    if (!outcome && ticket.acceptedAt + retentionMs < now()) throw missing;
    // No outcome is recorded when the broker never took the command (a connection lost before
    // its confirm), or not yet when it expired where no consumer records it: either way,
    // past its deadline it can no longer be applied.
    if (!outcome && ticket.deadline !== undefined && ticket.deadline + DEADLINE_GRACE_MS < now()) {
      outcome = expiredOutcome(ticket.deadline);
    }
    if (!outcome) res.set('Retry-After', String(POLL_AFTER_SECONDS));
    res.json(commandResource(id, ticket, outcome));
  });

  return router;
}
