import type { SubscriptionQueries } from '@subscriptions/store';
import { Router } from 'express';
import { confinedUserOf, principalOf } from './auth';
import { DEFAULT_PAGE_SIZE, eventsQuerySchema } from './schemas';
import { nameRoute } from './matched-route';
import { parseOrThrow } from './validation';

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
    const page = await queries.listEvents({
      userId: confinedUserOf(principalOf(res)),
      subscriptionId: query.subscription_id,
      type: query.type,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      startingAfter: query.starting_after,
    });
    res.json(page);
  });

  return router;
}
