import type { IdRange } from './options';
import { randomIn, SUBSCRIPTIONS_PATH } from './scenarios';

/** Requests in flight at once while seeding: enough to be quick, few enough to be polite. */
const SEED_CONCURRENCY = 16;

const SEED_HINTS: Record<number, string> = {
  401: ' (set BEARER_TOKEN to a token the producer accepts, or AUTH_JWT_SECRET to its secret)',
  422: ' (--user-ids names users that do not exist)',
  429: ' (start the producer with RATE_LIMIT_PER_MINUTE=0)',
};

/** Purchases `count` subscriptions through the API and returns their ids, for the mix. */
export async function seedSubscriptions(
  target: { baseUrl: string; headers: Record<string, string>; userIds: IdRange },
  count: number,
): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      ids.push(await purchaseOne(target));
    }
  };
  await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, count) }, worker));
  return ids;
}

async function purchaseOne(target: {
  baseUrl: string;
  headers: Record<string, string>;
  userIds: IdRange;
}): Promise<number> {
  const response = await fetch(`${target.baseUrl}${SUBSCRIPTIONS_PATH}`, {
    method: 'POST',
    headers: { ...target.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: randomIn(target.userIds) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status !== 201) {
    const hint = SEED_HINTS[response.status] ?? '';
    throw new Error(
      `seeding the mix: POST ${SUBSCRIPTIONS_PATH} answered ${response.status}${hint}: ${text}`,
    );
  }
  return (JSON.parse(text) as { id: number }).id;
}
