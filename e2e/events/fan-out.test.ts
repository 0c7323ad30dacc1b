import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestVhost, type TestVhost } from '../../test-support/broker';
import { releaseAll } from '../../test-support/cleanup';
import { createTestDatabase, type TestDatabase } from '../../test-support/database';
import { createApi, type Api } from '../../test-support/http/api';
import {
  isSuccess,
  printFigures,
  runConcurrently,
  sendPurchase,
  sendStatusChange,
  tally,
} from '../../test-support/http/load';
import {
  auditEvents,
  type EventSubscriber,
  openEventSubscriber,
  readHistory,
} from '../../test-support/outcomes/events';
import { createUsers } from '../../test-support/outcomes/ledger';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../../test-support/processes/services';

const CONSUMERS = 3;
const USERS = 10;
const PURCHASES = 60;
const CHANGES = 600;
/** Once the writes are done, every event reaches the subscriber (and the feed) well within this. */
const SETTLE_MS = 15_000;

interface FeedPage {
  data: { id: string }[];
  has_more: boolean;
}

/**
 * Reads the events feed as a client catching up would, from the start, going on after the last
 * id it saw, until `done()` holds and a read after it found nothing new. Returns every id read.
 */
async function pollFeed(api: Api, done: () => boolean): Promise<number[]> {
  const seen: number[] = [];
  let finalRead = false;
  for (;;) {
    const last = seen.at(-1);
    const response = await api.send(
      'GET',
      `/api/v1/events?limit=50${last === undefined ? '' : `&starting_after=${last}`}`,
    );
    if (response.status !== 200) throw new Error(`feed answered ${response.status}`);
    const page = response.body as FeedPage;
    seen.push(...page.data.map((event) => Number(event.id)));
    if (page.has_more) continue;
    if (finalRead) return seen;
    // The last read starts after the writers are done: it sees everything they committed.
    if (done()) finalRead = true;
    else await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('events of a mixed load over three consumers', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let subscriber: EventSubscriber;
  const consumers: ServiceProcess[] = [];
  let producer: Producer;
  let api: Api;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    subscriber = await openEventSubscriber(vhost.url);
    for (let i = 0; i < CONSUMERS; i += 1) {
      // Small batches spread the work, and so the commits, over all three.
      consumers.push(
        await startConsumer({
          amqpUrl: vhost.url,
          database: db.name,
          env: { CONSUMER_CONCURRENCY: '8', BATCH_SIZE: '8' },
        }),
      );
    }
    producer = await startProducer({
      amqpUrl: vhost.url,
      database: db.name,
      env: { RATE_LIMIT_PER_MINUTE: '0' },
    });
    api = createApi(producer.baseUrl);
  });

  afterAll(async () => {
    await releaseAll([producer, ...consumers].map((service) => service?.stop()));
    await releaseAll([subscriber?.close(), db?.drop(), vhost?.delete()]);
  });

  it('a subscriber hears exactly the committed changes, each subscription in commit order, and a feed poller reads each once', async () => {
    const users = await createUsers(db.pool, USERS, 'Events');
    let writing = true;
    const feed = pollFeed(api, () => !writing);

    const purchases = await runConcurrently(PURCHASES, 16, (i) =>
      sendPurchase(api, users[i % USERS] as number),
    );
    const ids = purchases.filter(isSuccess).map((answer) => (answer.body as { id: number }).id);
    expect(ids).toHaveLength(PURCHASES);
    // Racing cancels and restarts (about half refused), refusals of other kinds among them.
    const changes = await runConcurrently(CHANGES, 32, (i) => {
      if (i % 50 === 0) return sendStatusChange(api, 2_000_000_000 + i, 'cancel');
      if (i % 50 === 25) return sendPurchase(api, 2_000_000_000);
      const change = Math.floor(i / ids.length) % 2 === 0 ? 'cancel' : 'restart';
      return sendStatusChange(api, ids[i % ids.length] as number, change);
    });
    writing = false;
    const { statuses } = tally(changes);
    expect(Object.keys(statuses).sort()).toEqual(['200', '404', '409', '422']);

    const history = await readHistory(db.pool);
    expect(history).toHaveLength(PURCHASES + (statuses['200'] ?? 0));
    await subscriber.waitForIds(
      history.map((row) => String(row.id)),
      SETTLE_MS,
    );
    const audit = auditEvents(history, subscriber.received);
    const feedIds = await feed;
    const relays = consumers.map(
      (consumer) => consumer.logLines().filter((line) => line.msg === 'relaying events').length,
    );
    printFigures('events over three consumers', {
      history_rows: history.length,
      events_received: subscriber.received.length,
      duplicates: audit.duplicates,
      feed_events_read: feedIds.length,
      statuses,
      relays_per_consumer: relays,
    });
    expect(audit.problems).toEqual([]);
    expect(audit.duplicates).toBe(0);
    expect(subscriber.invalid).toEqual([]);
    // The feed: every event exactly once, in id order, none skipped while writes committed.
    expect(feedIds).toEqual(history.map((row) => row.id));
    // One relay for the database, whichever consumer won it.
    expect(relays.filter((count) => count > 0)).toHaveLength(1);
  });
});
