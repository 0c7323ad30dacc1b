import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import {
  createApi,
  expectProblem,
  expectSubscription,
  expectValidationProblem,
  SUBSCRIPTIONS_PATH,
  type Api,
} from '../test-support/http/api';
import {
  countRows,
  findSubscriptionRow,
  listEventTypes,
  listSubscriptionIds,
} from '../test-support/outcomes/rows';
import { releaseAll } from '../test-support/cleanup';
import {
  startConsumer,
  startProducer,
  type Producer,
  type ServiceProcess,
} from '../test-support/processes/services';

/** An id that no user and no subscription of the test database has. */
const UNKNOWN_ID = 987_654_321;

let db: TestDatabase;
let vhost: TestVhost;
let consumer: ServiceProcess | undefined;
let producer: Producer | undefined;
let api: Api;

beforeAll(async () => {
  [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
  // The consumer first: it declares the queues the producer's commands are routed to.
  consumer = await startConsumer({ amqpUrl: vhost.url, database: db.name });
  producer = await startProducer({ amqpUrl: vhost.url, database: db.name });
  api = createApi(producer.baseUrl);
});

afterAll(async () => {
  await releaseAll([producer?.stop(), consumer?.stop()]);
  await releaseAll([vhost?.delete(), db?.drop()]);
});

/** Buys a subscription over HTTP for a fresh user; the arrangement of most refusal tests. */
async function purchaseForNewUser(): Promise<{ userId: number; id: number }> {
  const userId = await db.createUser();
  const { id } = expectSubscription(await api.purchase({ user_id: userId }), 201, {
    user_id: userId,
    status: 'ACTIVE',
  });
  return { userId, id };
}

describe('a subscription through its lifecycle', () => {
  it('purchase, cancel, restart and cancel each answer with the new status and leave one event, in order', async () => {
    const userId = await db.createUser('Lifecycle User');

    const purchased = await api.purchase({ user_id: userId });
    const bought = expectSubscription(purchased, 201, { user_id: userId, status: 'ACTIVE' });
    const { id } = bought;
    expect(purchased.headers.get('location')).toBe(`${SUBSCRIPTIONS_PATH}/${id}`);

    const canceled = expectSubscription(await api.cancel(id), 200, {
      id,
      user_id: userId,
      status: 'CANCELED',
    });
    const restarted = expectSubscription(await api.restart(id), 200, {
      id,
      user_id: userId,
      status: 'ACTIVE',
    });
    const canceledAgain = expectSubscription(await api.cancel(id), 200, {
      id,
      user_id: userId,
      status: 'CANCELED',
    });

    for (const step of [canceled, restarted, canceledAgain]) {
      expect(step.created_at).toBe(bought.created_at);
    }
    expect(await findSubscriptionRow(db.pool, id)).toEqual({ user_id: userId, status: 'CANCELED' });
    expect(await listEventTypes(db.pool, id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
      'SUBSCRIPTION_CANCELED',
    ]);
  });

  it('a purchase posted to the collection path with a trailing slash is accepted', async () => {
    const userId = await db.createUser();

    const response = await api.send('POST', `${SUBSCRIPTIONS_PATH}/`, {
      json: { user_id: userId },
    });

    const { id } = expectSubscription(response, 201, { user_id: userId, status: 'ACTIVE' });
    expect(await listSubscriptionIds(db.pool, userId)).toEqual([id]);
  });

  it('a user may hold several subscriptions: each purchase creates a new one', async () => {
    const userId = await db.createUser();

    const first = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });
    const second = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });

    expect(second.id).not.toBe(first.id);
    expect(await listSubscriptionIds(db.pool, userId)).toEqual([first.id, second.id]);
  });
});

describe('request ids', () => {
  it('the X-Request-Id a client sends is echoed on a success', async () => {
    const userId = await db.createUser();
    const requestId = `e2e-${randomUUID()}`;

    const response = await api.purchase({ user_id: userId }, { 'x-request-id': requestId });

    expectSubscription(response, 201, { user_id: userId, status: 'ACTIVE' });
    expect(response.headers.get('x-request-id')).toBe(requestId);
  });

  it('the X-Request-Id a client sends is echoed on a refusal and named in its problem body', async () => {
    const requestId = `e2e-${randomUUID()}`;

    const response = await api.purchase({ user_id: 'one' }, { 'x-request-id': requestId });

    expect(response.headers.get('x-request-id')).toBe(requestId);
    expect(expectValidationProblem(response, '/user_id').request_id).toBe(requestId);
  });

  it('without an X-Request-Id, each response carries a fresh one', async () => {
    const first = await api.send('GET', '/api/v1/no-such-route');
    const second = await api.send('GET', '/api/v1/no-such-route');

    const ids = [first, second].map((response) => expectProblem(response, 404, 'route_not_found'));
    expect(ids[0]?.request_id).not.toBe(ids[1]?.request_id);
  });
});

describe('refused changes', () => {
  it('when the subscription is already canceled, cancel answers 409 with current_status and writes no event', async () => {
    const { userId, id } = await purchaseForNewUser();
    expectSubscription(await api.cancel(id), 200, { id, user_id: userId, status: 'CANCELED' });
    const before = await countRows(db.pool);

    const problem = expectProblem(await api.cancel(id), 409, 'invalid_transition');

    expect(problem.current_status).toBe('CANCELED');
    expect(await countRows(db.pool)).toEqual(before);
    expect(await findSubscriptionRow(db.pool, id)).toMatchObject({ status: 'CANCELED' });
    expect(await listEventTypes(db.pool, id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
    ]);
  });

  it('when the subscription is active, restart answers 409 with current_status and writes no event', async () => {
    const { id } = await purchaseForNewUser();
    const before = await countRows(db.pool);

    const problem = expectProblem(await api.restart(id), 409, 'invalid_transition');

    expect(problem.current_status).toBe('ACTIVE');
    expect(await countRows(db.pool)).toEqual(before);
    expect(await findSubscriptionRow(db.pool, id)).toMatchObject({ status: 'ACTIVE' });
    expect(await listEventTypes(db.pool, id)).toEqual(['SUBSCRIPTION_PURCHASED']);
  });

  it.each([
    ['cancel', { canceled: true }],
    ['restart', { restarted: true }],
  ])('when the subscription does not exist, %s answers 404 and writes nothing', async (_, body) => {
    const before = await countRows(db.pool);

    const response = await api.changeStatus(UNKNOWN_ID, body);

    expectProblem(response, 404, 'subscription_not_found');
    expect(await countRows(db.pool)).toEqual(before);
  });

  it('when the user does not exist, purchase answers 422 and creates no subscription', async () => {
    const before = await countRows(db.pool);

    const response = await api.purchase({ user_id: UNKNOWN_ID });

    expectProblem(response, 422, 'user_not_found');
    expect(await countRows(db.pool)).toEqual(before);
    expect(await listSubscriptionIds(db.pool, UNKNOWN_ID)).toEqual([]);
  });
});

describe('requests that fail validation are refused before any command is sent', () => {
  /** A real user: were a bad purchase let through, it would create a subscription. */
  let userId: number;
  /** An ACTIVE subscription: were a bad status change let through, it would cancel it. */
  let activeId: number;

  beforeAll(async () => {
    ({ userId, id: activeId } = await purchaseForNewUser());
  });

  // Each body is built around the real user, so only the flaw named stands in its way.
  it.each<[string, (user: number) => unknown, string]>([
    ['no user_id', () => ({}), '/user_id'],
    ['an unknown field', (user) => ({ user_id: user, plan: 'gold' }), '/plan'],
    ['user_id as a string', (user) => ({ user_id: String(user) }), '/user_id'],
    ['user_id as a float', (user) => ({ user_id: user + 0.5 }), '/user_id'],
    ['user_id as a boolean', () => ({ user_id: true }), '/user_id'],
    ['user_id 0', () => ({ user_id: 0 }), '/user_id'],
    ['user_id -1', () => ({ user_id: -1 }), '/user_id'],
    ['user_id 2^53, past the safe integers', () => ({ user_id: 2 ** 53 }), '/user_id'],
    ['user_id null', () => ({ user_id: null }), '/user_id'],
    ['an array for a body', (user) => [{ user_id: user }], ''],
  ])('a purchase with %s answers 400 naming the field', async (_, bodyFor, pointer) => {
    const before = await countRows(db.pool);

    const response = await api.purchase(bodyFor(userId));

    expectValidationProblem(response, pointer);
    expect(await countRows(db.pool)).toEqual(before);
  });

  it.each<[string, (user: number) => string]>([
    ['an unterminated object', (user) => `{"user_id": ${user}`],
    ['a trailing comma', (user) => `{"user_id": ${user},}`],
    ['a bare number', (user) => String(user)],
  ])('a purchase whose body is not a JSON object (%s) answers 400', async (_, bodyFor) => {
    const before = await countRows(db.pool);

    const response = await api.send('POST', SUBSCRIPTIONS_PATH, { rawBody: bodyFor(userId) });

    expectProblem(response, 400, 'malformed_json');
    expect(await countRows(db.pool)).toEqual(before);
  });

  it.each<[string, unknown, string]>([
    ['both flags', { canceled: true, restarted: true }, ''],
    ['neither flag', {}, ''],
    ['canceled false', { canceled: false }, '/canceled'],
    ['canceled as the string "true"', { canceled: 'true' }, '/canceled'],
    ['restarted false', { restarted: false }, '/restarted'],
    ['canceled and restarted false', { canceled: true, restarted: false }, '/restarted'],
    ['an unknown field', { canceled: true, reason: 'too expensive' }, '/reason'],
  ])('a status change with %s answers 400 naming the field', async (_, body, pointer) => {
    const before = await countRows(db.pool);

    const response = await api.changeStatus(activeId, body);

    expectValidationProblem(response, pointer);
    expect(await countRows(db.pool)).toEqual(before);
    expect(await findSubscriptionRow(db.pool, activeId)).toMatchObject({ status: 'ACTIVE' });
  });

  it.each(['abc', '0', '-1', '1.5', '01', '9007199254740992'])(
    'a status change on the path id %s answers 400 naming the id',
    async (id) => {
      const before = await countRows(db.pool);

      const response = await api.changeStatus(id, { canceled: true });

      expectValidationProblem(response, '/id');
      expect(await countRows(db.pool)).toEqual(before);
    },
  );

  it('a body over 16 KiB answers 413, even when it is otherwise a valid purchase', async () => {
    const before = await countRows(db.pool);
    const padded = `{"user_id": ${userId}${' '.repeat(17 * 1024)}}`;

    const response = await api.send('POST', SUBSCRIPTIONS_PATH, { rawBody: padded });

    expectProblem(response, 413, 'payload_too_large');
    expect(await countRows(db.pool)).toEqual(before);
  });

  it('a purchase sent as text/plain answers 415, even when the text is a valid purchase', async () => {
    const before = await countRows(db.pool);

    const response = await api.send('POST', SUBSCRIPTIONS_PATH, {
      rawBody: JSON.stringify({ user_id: userId }),
      contentType: 'text/plain',
    });

    expectProblem(response, 415, 'unsupported_media_type');
    expect(await countRows(db.pool)).toEqual(before);
  });

  it('a status change sent as text/plain answers 415 and leaves the subscription as it was', async () => {
    const before = await countRows(db.pool);

    const response = await api.send('PUT', `${SUBSCRIPTIONS_PATH}/${activeId}/status`, {
      rawBody: JSON.stringify({ canceled: true }),
      contentType: 'text/plain',
    });

    expectProblem(response, 415, 'unsupported_media_type');
    expect(await countRows(db.pool)).toEqual(before);
    expect(await findSubscriptionRow(db.pool, activeId)).toMatchObject({ status: 'ACTIVE' });
  });

  it.each([
    ['GET', '/api/v1/plans'],
    ['POST', '/api/v1/subscription'],
    ['GET', '/nowhere'],
  ])('an unknown route (%s %s) answers 404 with a problem body', async (method, path) => {
    const before = await countRows(db.pool);

    const response = await api.send(method, path, {
      json: method === 'GET' ? undefined : { user_id: userId },
    });

    expectProblem(response, 404, 'route_not_found');
    expect(await countRows(db.pool)).toEqual(before);
  });
});
