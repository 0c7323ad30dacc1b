import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DEAD_LETTER_QUEUE,
  DIRECT_REPLY_QUEUE,
  EXCHANGE,
  routingKeyFor,
  type QueueName,
  type Reply,
} from '@subscriptions/contracts';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { startInProcessConsumer, type InProcessConsumer } from '../../../test-support/consumer';
import { createTestDatabase, type TestDatabase } from '../../../test-support/database';
import { testLogger } from '../../../test-support/logger';
import { createConsumerMetrics } from '../../src/metrics';
import { startOpsServer } from '../../src/ops-server';

/** A client that talks to the consumer the way the producer does: publish, await the reply. */
class CommandClient {
  private readonly waiting = new Map<string, (reply: Reply) => void>();
  private constructor(
    readonly connection: ChannelModel,
    readonly channel: Channel,
  ) {}

  static async open(url: string): Promise<CommandClient> {
    const connection = await amqp.connect(url, { noDelay: true });
    const channel = await connection.createChannel();
    const client = new CommandClient(connection, channel);
    await channel.consume(DIRECT_REPLY_QUEUE, (message) => client.onReply(message), {
      noAck: true,
    });
    return client;
  }

  private onReply(message: ConsumeMessage | null): void {
    const id = String(message?.properties.correlationId);
    this.waiting.get(id)?.(JSON.parse(String(message?.content)) as Reply);
    this.waiting.delete(id);
  }

  publish(
    queue: QueueName,
    body: unknown,
    options: {
      deadline?: number;
      raw?: Buffer;
      messageId?: string;
      idempotency?: { scope: string; key: string };
      actingUserId?: number | string;
    } = {},
  ) {
    const correlationId = randomUUID();
    const reply = new Promise<Reply>((resolve) => this.waiting.set(correlationId, resolve));
    this.channel.publish(
      EXCHANGE,
      routingKeyFor(queue),
      options.raw ?? Buffer.from(JSON.stringify(body)),
      {
        persistent: true,
        correlationId,
        messageId: options.messageId ?? randomUUID(),
        replyTo: DIRECT_REPLY_QUEUE,
        contentType: 'application/json',
        headers: {
          'x-request-id': `test-${correlationId}`,
          'x-deadline': options.deadline ?? Date.now() + 10_000,
          ...(options.actingUserId !== undefined && { 'x-acting-user-id': options.actingUserId }),
          ...(options.idempotency && {
            'x-idempotency-key': options.idempotency.key,
            'x-idempotency-scope': options.idempotency.scope,
          }),
        },
      },
    );
    return reply;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

describe('consumer against the real broker and database', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: InProcessConsumer;
  let client: CommandClient;
  let userId: number;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    consumer = await startInProcessConsumer({ amqpUrl: vhost.url, database: database.name });
    client = await CommandClient.open(vhost.url);
    userId = await database.createUser('Ada');
  });

  afterAll(async () => {
    await client?.close();
    await consumer?.stop();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  /** The next dead letter, waiting for it up to a deadline (the nack follows the reply). */
  async function nextDeadLetter(withinMs = 5_000) {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const message = await client.channel.get(DEAD_LETTER_QUEUE, { noAck: true });
      if (message || Date.now() > deadline) return message || undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function eventsOf(subscriptionId: number): Promise<string[]> {
    const [rows] = await database.pool.query<RowDataPacket[]>(
      'SELECT type FROM event_history WHERE subscription_id = ? ORDER BY id',
      [subscriptionId],
    );
    return rows.map((row) => String(row['type']));
  }

  async function statusOf(subscriptionId: number): Promise<string | undefined> {
    const [rows] = await database.pool.query<RowDataPacket[]>(
      'SELECT st.status_name FROM subscription s JOIN status st ON st.id = s.status_id WHERE s.id = ?',
      [subscriptionId],
    );
    return rows[0]?.['status_name'];
  }

  async function purchase(): Promise<number> {
    const reply = await client.publish('PURCHASED', { user_id: userId });
    if (!reply.ok) throw new Error(`purchase refused: ${reply.error.code}`);
    return reply.subscription.id;
  }

  it('purchase creates an ACTIVE subscription and one SUBSCRIPTION_PURCHASED event', async () => {
    const reply = await client.publish('PURCHASED', { user_id: userId });
    expect(reply).toEqual({
      ok: true,
      subscription: {
        id: expect.any(Number),
        user_id: userId,
        status: 'ACTIVE',
        created_at: expect.stringMatching(/Z$/),
        updated_at: null,
      },
    });
    const id = reply.ok ? reply.subscription.id : 0;
    expect(await statusOf(id)).toBe('ACTIVE');
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED']);
  });

  it('cancel then restart move the status and append one event each', async () => {
    const id = await purchase();
    const canceled = await client.publish('CANCELED', { subscription_id: id });
    expect(canceled).toMatchObject({ ok: true, subscription: { id, status: 'CANCELED' } });
    expect(canceled.ok && canceled.subscription.updated_at).toEqual(expect.stringMatching(/Z$/));
    const restarted = await client.publish('RESTARTED', { subscription_id: id });
    expect(restarted).toMatchObject({ ok: true, subscription: { id, status: 'ACTIVE' } });
    expect(await eventsOf(id)).toEqual([
      'SUBSCRIPTION_PURCHASED',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_RESTARTED',
    ]);
  });

  it('when the subscription is already canceled, cancel is refused and writes no event', async () => {
    const id = await purchase();
    await client.publish('CANCELED', { subscription_id: id });
    const reply = await client.publish('CANCELED', { subscription_id: id });
    expect(reply).toEqual({
      ok: false,
      error: {
        code: 'invalid_transition',
        message: expect.any(String),
        current_status: 'CANCELED',
      },
    });
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED', 'SUBSCRIPTION_CANCELED']);
  });

  it('when the subscription is active, restart is refused and writes no event', async () => {
    const id = await purchase();
    const reply = await client.publish('RESTARTED', { subscription_id: id });
    expect(reply).toMatchObject({
      ok: false,
      error: { code: 'invalid_transition', current_status: 'ACTIVE' },
    });
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED']);
  });

  it('an unknown subscription is refused with subscription_not_found', async () => {
    const reply = await client.publish('CANCELED', { subscription_id: 987_654_321 });
    expect(reply).toMatchObject({ ok: false, error: { code: 'subscription_not_found' } });
  });

  it('an unknown user is refused with user_not_found and no row is written', async () => {
    const [[before]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription',
    );
    const reply = await client.publish('PURCHASED', { user_id: 987_654_321 });
    expect(reply).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
    const [[after]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription',
    );
    expect(after?.['n']).toBe(before?.['n']);
  });

  it('a poison message is dead-lettered and the next good command is still applied', async () => {
    const poison = client.publish('PURCHASED', undefined, { raw: Buffer.from('{not json') });
    expect(await poison).toMatchObject({ ok: false, error: { code: 'invalid_command' } });
    const offSchema = client.publish('CANCELED', { subscription_id: '1; DROP TABLE user' });
    expect(await offSchema).toMatchObject({ ok: false, error: { code: 'invalid_command' } });

    const id = await purchase();
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED']);

    const dead: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const message = await nextDeadLetter();
      dead.push(String(message?.content));
      expect(message?.properties.headers?.['x-first-death-reason']).toBe('rejected');
    }
    expect(dead).toEqual(['{not json', JSON.stringify({ subscription_id: '1; DROP TABLE user' })]);
  });

  async function countSubscriptions(): Promise<number> {
    const [[row]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription WHERE user_id = ?',
      [userId],
    );
    return Number(row?.['n']);
  }

  it('a redelivered command (same message id) replays its reply and changes nothing', async () => {
    const before = await countSubscriptions();
    const messageId = randomUUID();
    const first = await client.publish('PURCHASED', { user_id: userId }, { messageId });
    const again = await client.publish('PURCHASED', { user_id: userId }, { messageId });
    expect(first.ok && first.replayed).toBeFalsy();
    expect(again).toEqual({ ...first, replayed: true });
    expect(await countSubscriptions()).toBe(before + 1);
  });

  it('a status change replayed by its Idempotency-Key writes no second event', async () => {
    const id = await purchase();
    const idempotency = { scope: 'user-a', key: randomUUID() };
    const first = await client.publish('CANCELED', { subscription_id: id }, { idempotency });
    const retry = await client.publish('CANCELED', { subscription_id: id }, { idempotency });
    expect(first).toMatchObject({ ok: true, subscription: { status: 'CANCELED' } });
    expect(retry).toEqual({ ...first, replayed: true });
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED', 'SUBSCRIPTION_CANCELED']);
  });

  it('the same Idempotency-Key in another scope is another request', async () => {
    const key = randomUUID();
    const mine = await client.publish(
      'PURCHASED',
      { user_id: userId },
      {
        idempotency: { scope: 'user-a', key },
      },
    );
    const theirs = await client.publish(
      'PURCHASED',
      { user_id: userId },
      {
        idempotency: { scope: 'user-b', key },
      },
    );
    expect(mine.ok && theirs.ok && mine.subscription.id !== theirs.subscription.id).toBe(true);
    expect(theirs.replayed).toBeUndefined();
  });

  it('an Idempotency-Key reused for a different request is refused and writes nothing', async () => {
    const idempotency = { scope: 'user-a', key: randomUUID() };
    await client.publish('PURCHASED', { user_id: userId }, { idempotency });
    const before = await countSubscriptions();
    const reused = await client.publish('PURCHASED', { user_id: 987_654_321 }, { idempotency });
    expect(reused).toMatchObject({ ok: false, error: { code: 'idempotency_key_reused' } });
    expect(await countSubscriptions()).toBe(before);
  });

  it('two commands with one Idempotency-Key delivered at once apply once; the other replays', async () => {
    const before = await countSubscriptions();
    const idempotency = { scope: 'user-a', key: randomUUID() };
    const replies = await Promise.all(
      Array.from({ length: 4 }, () =>
        client.publish('PURCHASED', { user_id: userId }, { idempotency }),
      ),
    );
    const ids = new Set(replies.map((reply) => (reply.ok ? reply.subscription.id : 0)));
    expect(ids.size).toBe(1);
    expect(replies.filter((reply) => reply.replayed === true)).toHaveLength(3);
    expect(await countSubscriptions()).toBe(before + 1);
  });

  it("a command restricted to another user leaves that user's subscription untouched (404)", async () => {
    const id = await purchase();
    const stranger = await database.createUser('Mallory');
    for (const queue of ['CANCELED', 'RESTARTED'] as const) {
      const reply = await client.publish(
        queue,
        { subscription_id: id },
        { actingUserId: stranger },
      );
      expect(reply).toMatchObject({ ok: false, error: { code: 'subscription_not_found' } });
    }
    const purchaseForOther = await client.publish(
      'PURCHASED',
      { user_id: userId },
      { actingUserId: stranger },
    );
    expect(purchaseForOther).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await eventsOf(id)).toEqual(['SUBSCRIPTION_PURCHASED']);
    const own = await client.publish('CANCELED', { subscription_id: id }, { actingUserId: userId });
    expect(own).toMatchObject({ ok: true, subscription: { status: 'CANCELED' } });
  });

  it('a malformed acting user header makes the command poison', async () => {
    const reply = await client.publish(
      'CANCELED',
      { subscription_id: 1 },
      { actingUserId: 'admin' },
    );
    expect(reply).toMatchObject({ ok: false, error: { code: 'invalid_command' } });
    const dead = await nextDeadLetter();
    expect(dead?.properties.headers?.['x-acting-user-id']).toBe('admin');
  });

  it('counts what it did in its metrics: applied, replayed, refused, dead-lettered', async () => {
    const text = await consumer.metrics.registry.metrics();
    expect(text).toMatch(
      /subscriptions_commands_processed_total\{command="purchase",outcome="applied"\} [1-9]/,
    );
    expect(text).toMatch(
      /subscriptions_commands_processed_total\{command="purchase",outcome="replayed"\} [1-9]/,
    );
    expect(text).toMatch(
      /subscriptions_commands_processed_total\{command="cancel",outcome="invalid_transition"\} [1-9]/,
    );
    expect(text).toMatch(
      /subscriptions_commands_dead_lettered_total\{queue="PURCHASED",reason="poison"\} 1/,
    );
    expect(text).toMatch(
      /subscriptions_commands_dead_lettered_total\{queue="CANCELED",reason="poison"\} 2/,
    );
    expect(text).toMatch(
      /subscriptions_command_duration_seconds_count\{command="purchase"\} [1-9]/,
    );
  });

  it('a command past its deadline is dropped unapplied', async () => {
    const [[before]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription',
    );
    const late = client.publish('PURCHASED', { user_id: userId }, { deadline: Date.now() - 1 });
    // A command published after the late one is answered only once the late one was handled.
    const later = await purchase();
    expect(later).toEqual(expect.any(Number));
    const outcome = await Promise.race([late, Promise.resolve('no reply')]);
    expect(outcome).toBe('no reply');
    const [[after]] = await database.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM subscription',
    );
    expect(Number(after?.['n'])).toBe(Number(before?.['n']) + 1);
  });
});

describe('consumer ops server', () => {
  it('serves /metrics, /healthz and /readyz, and says not ready when its check fails', async () => {
    const metrics = createConsumerMetrics();
    metrics.processed('purchase', 'applied', 0.01);
    let ready = true;
    const server = await startOpsServer({
      port: 0,
      registry: metrics.registry,
      logger: testLogger,
      isReady: async () => ready,
    });
    try {
      const address = server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const scrape = await fetch(`${base}/metrics`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(
        /subscriptions_commands_processed_total\{command="purchase",outcome="applied"\} 1/,
      );
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      ready = false;
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
