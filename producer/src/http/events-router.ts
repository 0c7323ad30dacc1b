import { Router } from 'express';
import type { SubscriptionQueries } from '../read-model/subscription-queries';
import { principalOf } from './auth';
import { eventsQuerySchema } from './schemas';
import { nameRoute } from './matched-route';
import { parseOrThrow } from './validation';

/** Page size when the client does not ask for one. */
const DEFAULT_PAGE_SIZE = 20;

/**
 * `/api/v1/events`: every applied change as the CloudEvent the events exchange carries, oldest
 * first, for a subscriber that was away to catch up from the last id it saw (and to tell
 * duplicates by id). An admin reads everyone's; any other caller its own subscriptions' only.
 */
export function createEventsRouter(deps: {
  queries: Pick<SubscriptionQueries, 'listEvents'>;
}): Router {
  const { queries } = deps;
  const router = Router();

  router.get('/', nameRoute, async (req, res) => {
    const query = parseOrThrow(eventsQuerySchema, req.query, 'query');
    const principal = principalOf(res);
    const page = await queries.listEvents({
      userId: principal.admin ? undefined : (principal.userId ?? undefined),
      subscriptionId: query.subscription_id,
      type: query.type,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      startingAfter: query.starting_after,
    });
    res.json(page);
  });

  return router;
}
