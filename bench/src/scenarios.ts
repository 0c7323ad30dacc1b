import type autocannon from 'autocannon';
import type { IdRange } from './options';

export type ScenarioName =
  'purchase' | 'async' | 'mix' | 'get' | 'history' | 'list-first' | 'list-deep' | 'list-status';

export const SUBSCRIPTIONS_PATH = '/api/v1/subscriptions';

/** Answers that belong to a scenario rather than signal a problem: the mix's refused changes. */
export const EXPECTED_STATUSES: Record<ScenarioName, ReadonlySet<number>> = {
  purchase: new Set([201]),
  async: new Set([202]),
  mix: new Set([200, 201, 409]),
  get: new Set([200]),
  history: new Set([200]),
  'list-first': new Set([200]),
  'list-deep': new Set([200]),
  'list-status': new Set([200]),
};

export const randomIn = (range: IdRange): number =>
  range.first + Math.floor(Math.random() * (range.last - range.first + 1));

const purchase = (request: autocannon.Request, userIds: IdRange): autocannon.Request => ({
  ...request,
  method: 'POST',
  path: SUBSCRIPTIONS_PATH,
  body: JSON.stringify({ user_id: randomIn(userIds) }),
});

/** A purchase for a random existing user, drawn anew for every request. */
export function purchaseRequests(userIds: IdRange): autocannon.Request[] {
  return [{ setupRequest: (request) => purchase(request, userIds) }];
}

/**
 * A purchase sent with `Prefer: respond-async`: answered 202 once the broker has it, applied
 * later. `onAccepted` gets the Location of every 202, so the backlog can be watched draining.
 */
export function asyncPurchaseRequests(
  userIds: IdRange,
  onAccepted: (location: string) => void,
): autocannon.Request[] {
  return [
    {
      setupRequest: (request) => ({
        ...purchase(request, userIds),
        headers: { ...request.headers, prefer: 'respond-async' },
      }),
      onResponse: (status, _body, _context, headers) => {
        const location = headers?.['location'];
        if (status === 202 && typeof location === 'string') onAccepted(location);
      },
    },
  ];
}

/**
 * A third each of purchases, cancels and restarts, the changes on random subscriptions made
 * beforehand. About half the changes find the subscription in the other state and are answered
 * 409, as a client racing another would see.
 */
export function mixRequests(
  userIds: IdRange,
  subscriptionIds: readonly number[],
): autocannon.Request[] {
  const subscriptions = { first: 0, last: subscriptionIds.length - 1 };
  return [
    {
      setupRequest: (request) => {
        const pick = Math.floor(Math.random() * 3);
        if (pick === 0 || subscriptionIds.length === 0) return purchase(request, userIds);
        return {
          ...request,
          method: 'PUT',
          path: `${SUBSCRIPTIONS_PATH}/${subscriptionIds[randomIn(subscriptions)]}/status`,
          body: JSON.stringify(pick === 1 ? { canceled: true } : { restarted: true }),
        };
      },
    },
  ];
}

/** The reads whose speed should not depend on how much the database holds. */
export const READ_SCENARIOS = ['get', 'history', 'list-first', 'list-deep', 'list-status'] as const;
type ReadScenario = (typeof READ_SCENARIOS)[number];

/**
 * One read of `scenario`, about a random subscription of `subscriptionIds` where it needs one:
 * one subscription, its history, the first page of the list, a page from a random point in it
 * (deep in a large table), the first page of the canceled ones.
 */
export function readRequests(
  scenario: ReadScenario,
  subscriptionIds: readonly number[],
): autocannon.Request[] {
  const path = (): string => {
    const id = subscriptionIds[Math.floor(Math.random() * subscriptionIds.length)] ?? 1;
    switch (scenario) {
      case 'get':
        return `${SUBSCRIPTIONS_PATH}/${id}`;
      case 'history':
        return `${SUBSCRIPTIONS_PATH}/${id}/history`;
      case 'list-first':
        return `${SUBSCRIPTIONS_PATH}?limit=20`;
      case 'list-deep':
        return `${SUBSCRIPTIONS_PATH}?limit=20&starting_after=${id}`;
      case 'list-status':
        return `${SUBSCRIPTIONS_PATH}?status=CANCELED&limit=20`;
    }
  };
  return [{ setupRequest: (request) => ({ ...request, method: 'GET', path: path() }) }];
}
