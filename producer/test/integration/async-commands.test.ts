import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import amqp from 'amqplib';
import { EXCHANGE, routingKeyFor } from '@subscriptions/contracts';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { releaseAll } from '../../../test-support/cleanup';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { createGate } from '../../../test-support/gate';
import {
  type Api,
  createApi,
  expectProblem,
  expectSubscription,
} from '../../../test-support/http/api';
import {
  expectAccepted,
  expectCommand,
  expectCompletedWithProblem,
  expectPurchased,
  preferWait,
  readCommand,
  RESPOND_ASYNC,
  submitPurchase,
  submitStatusChange,
  waitForCompletion,
} from '../../../test-support/http/commands';
import { waitUntil } from '../../../test-support/wait';
import {
  countRows,
  findSubscriptionRow,
  listEventTypes,
  listSubscriptionIds,
} from '../../../test-support/outcomes/rows';
import {
  COMMAND_SETTINGS,
  startInProcessProducer,
  type InProcessProducer,
} from '../../../test-support/producer';

/** Short, so that a synchronous call held by the consumer times out within the test. */
const RPC_TIMEOUT_MS = 3_000;
const POLL = { timeoutMs: 10_000 };

describe('asynchronous requests (Prefer) and the command resource', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let producer: InProcessProducer;
  let server: Server;
  let api: Api;
  /** Shut, the consumer holds every batch it takes: a consumer slower than any wait. */
  const consumerGate = createGate();

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({
      amqpUrl: vhost.url,
      database: database.name,
      beforeBatch: () => consumerGate.pass(),
    });
    producer = await startInProcessProducer({
      amqpUrl: vhost.url,
      database: database.name,
      timeoutMs: RPC_TIMEOUT_MS,
    });
    server = producer.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const address = server.address();
    api = createApi(
      `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    );
  });

  afterEach(() => consumerGate.open());

  afterAll(async () => {
    consumerGate.open();
    await new Promise((resolve) => server?.close(resolve));
    await producer?.stop();
    await consumer?.stop();
    await releaseAll([vhost?.delete(), database?.drop()]);
  });

  it('respond-async answers 202 with the pending command, which completes with the 201 the synchronous call gives', async () => {
    const userId = await database.createUser();
    const command = expectAccepted(
      await submitPurchase(api, userId, { prefer: RESPOND_ASYNC }),
      'purchase',
    );
    const completed = await waitForCompletion(api, command.id, POLL);
    expect(completed.accepted_at).toBe(command.accepted_at);
    expect(Date.parse(completed.completed_at ?? '')).toBeGreaterThanOrEqual(
      Date.parse(command.accepted_at),
    );
    const subscription = expectPurchased(completed, userId);
    // The response is the subscription as it is stored, with its one event.
    const read = await api.send('GET', `/api/v1/subscriptions/${subscription.id}`);
    expect(read.body).toEqual(subscription);
    expect(await listEventTypes(database.pool, subscription.id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
    ]);
    // A completed command reads the same every time.
    expect(expectCommand(await readCommand(api, command.id), command.id)).toEqual(completed);
  });

  it('cancel and restart go asynchronously too; a refused change completes with its 409 problem and writes nothing', async () => {
    const userId = await database.createUser();
    const { id } = expectSubscription(await api.purchase({ user_id: userId }), 201, {
      user_id: userId,
      status: 'ACTIVE',
    });
    const cancel = expectAccepted(
      await submitStatusChange(api, id, 'cancel', { prefer: RESPOND_ASYNC }),
      'cancel',
    );
    const canceled = await waitForCompletion(api, cancel.id, POLL);
    expect(canceled.response).toEqual({
      status: 200,
      body: expect.objectContaining({ id, user_id: userId, status: 'CANCELED' }),
    });

    const again = expectAccepted(
      await submitStatusChange(api, id, 'cancel', { prefer: RESPOND_ASYNC }),
      'cancel',
    );
    const refused = expectCompletedWithProblem(
      await waitForCompletion(api, again.id, POLL),
      409,
      'invalid_transition',
    );
    expect(refused['current_status']).toBe('CANCELED');

    const restart = expectAccepted(
      await submitStatusChange(api, id, 'restart', { prefer: RESPOND_ASYNC }),
      'restart',
    );
    expect((await waitForCompletion(api, restart.id, POLL)).response).toEqual({
      status: 200,
      body: expect.objectContaining({ id, status: 'ACTIVE' }),
    });
    expect(await listEventTypes(database.pool, id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
    ]);
  });

  it('a purchase for a user that does not exist completes with 422 and creates nothing', async () => {
    const before = await countRows(database.pool);
    const command = expectAccepted(
      await submitPurchase(api, 2_000_000_000, { prefer: RESPOND_ASYNC }),
      'purchase',
    );
    expectCompletedWithProblem(
      await waitForCompletion(api, command.id, POLL),
      422,
      'user_not_found',
    );
    expect(await countRows(database.pool)).toEqual(before);
  });

  it('Prefer: wait=1 answers the 201 itself when the consumer is fast', async () => {
    const userId = await database.createUser();
    const answer = await submitPurchase(api, userId, { prefer: preferWait(1) });
    expectSubscription(answer, 201, { user_id: userId, status: 'ACTIVE' });
    expect(answer.headers.get('preference-applied')).toBeNull();
  });

  it('Prefer: wait=1 answers 202 after about a second when the consumer is slow, and the command completes once it catches up', async () => {
    const userId = await database.createUser();
    consumerGate.close();
    const answer = await submitPurchase(api, userId, { prefer: preferWait(1) });
    const command = expectAccepted(answer, 'purchase');
    expect(answer.latencyMs).toBeGreaterThanOrEqual(990);
    // The consumer holds it: the 202 did not wait for the reply. Pending, and nothing written yet.
    expect(consumerGate.waiting).toBe(1);
    expect(expectCommand(await readCommand(api, command.id), command.id).state).toBe('pending');
    expect(await listSubscriptionIds(database.pool, userId)).toEqual([]);

    consumerGate.open();
    const subscription = expectPurchased(await waitForCompletion(api, command.id, POLL), userId);
    expect(await listSubscriptionIds(database.pool, userId)).toEqual([subscription.id]);
  });

  it('a repeat with the same Idempotency-Key answers the same command while pending, and the stored outcome once completed', async () => {
    const userId = await database.createUser();
    const key = { 'idempotency-key': `async-${userId}` };
    consumerGate.close();
    const first = expectAccepted(
      await submitPurchase(api, userId, { prefer: RESPOND_ASYNC, headers: key }),
      'purchase',
    );
    await waitUntil('the consumer to take the command', () => consumerGate.waiting === 1, 5_000);
    const repeat = expectAccepted(
      await submitPurchase(api, userId, { prefer: RESPOND_ASYNC, headers: key }),
      'purchase',
    );
    expect(repeat).toEqual(first);

    consumerGate.open();
    const subscription = expectPurchased(await waitForCompletion(api, first.id, POLL), userId);
    const replayed = await submitPurchase(api, userId, { prefer: RESPOND_ASYNC, headers: key });
    expectSubscription(replayed, 201, { id: subscription.id, user_id: userId, status: 'ACTIVE' });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.headers.get('location')).toBe(`/api/v1/subscriptions/${subscription.id}`);
    // One purchase in all, and the synchronous form of the repeat agrees.
    const synchronous = await submitPurchase(api, userId, { headers: key });
    expectSubscription(synchronous, 201, {
      id: subscription.id,
      user_id: userId,
      status: 'ACTIVE',
    });
    expect(await listSubscriptionIds(database.pool, userId)).toEqual([subscription.id]);
  });

  it('a synchronous 504 carries the Location of its command, which completes once the consumer applies it', async () => {
    const userId = await database.createUser();
    consumerGate.close();
    const timedOut = await submitPurchase(api, userId);
    expectProblem(timedOut, 504, 'reply_timeout');
    const location = timedOut.headers.get('location') ?? '';
    expect(location).toMatch(/^\/api\/v1\/commands\/purchase\./);
    const pending = expectCommand(
      await readCommand(api, location),
      location.split('/').pop() ?? '',
    );
    expect(pending.state).toBe('pending');

    consumerGate.open();
    const completed = await waitForCompletion(api, pending.id, POLL);
    const subscription = expectPurchased(completed, userId);
    expect(await findSubscriptionRow(database.pool, subscription.id)).toEqual({
      user_id: userId,
      status: 'ACTIVE',
    });
  });

  it('a command that can never be applied (poison) ends completed with its error, not pending', async () => {
    const commandId = COMMAND_SETTINGS.commandIds.mint({
      type: 'purchase',
      owner: 'anonymous',
      acceptedAt: Date.now(),
    });
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createConfirmChannel();
      // What no producer of ours sends: a body the schema refuses.
      channel.publish(EXCHANGE, routingKeyFor('PURCHASED'), Buffer.from('{"user_id":"many"}'), {
        messageId: commandId,
        persistent: true,
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    expectCompletedWithProblem(
      await waitForCompletion(api, commandId, POLL),
      500,
      'internal_error',
    );
  });

  it('an id nobody minted, or changed by one character, is 404; one that is not an id at all is 400', async () => {
    const real = expectAccepted(
      await submitPurchase(api, await database.createUser(), { prefer: RESPOND_ASYNC }),
      'purchase',
    );
    const forged = `${real.id.slice(0, -1)}${real.id.endsWith('A') ? 'B' : 'A'}`;
    for (const id of [forged, 'purchase.1.2.3.4.5', 'x']) {
      expectProblem(await readCommand(api, id), 404, 'command_not_found');
    }
    expectProblem(await readCommand(api, 'a%20b'), 400, 'validation_failed');
  });

  it('a synchronous command that no outcome was ever recorded for reads completed as expired two minutes past its deadline', async () => {
    const deadline = Date.now() - 121_000;
    const lost = COMMAND_SETTINGS.commandIds.mint({
      type: 'cancel',
      owner: 'anonymous',
      acceptedAt: deadline - RPC_TIMEOUT_MS,
      deadline,
    });
    const command = expectCommand(await readCommand(api, lost), lost);
    expectCompletedWithProblem(command, 503, 'command_expired');
    expect(command.completed_at).toBe(new Date(deadline).toISOString());
    // Within the two minutes it may still be applied: pending.
    const recent = COMMAND_SETTINGS.commandIds.mint({
      type: 'cancel',
      owner: 'anonymous',
      acceptedAt: Date.now() - RPC_TIMEOUT_MS - 1_000,
      deadline: Date.now() - 1_000,
    });
    expect(expectCommand(await readCommand(api, recent), recent).state).toBe('pending');
  });
});
