import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DIRECT_REPLY_QUEUE, EXCHANGE, routingKeyFor, type Reply } from '@subscriptions/contracts';
import { connectBroker } from '@subscriptions/platform';
import {
  commandRecordKey,
  createDatabasePool,
  createSubscriptionRepository,
} from '@subscriptions/store';
import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createTestVhost, type TestVhost } from '../../../test-support/broker';
import { createTestDatabase, mysqlServer, type TestDatabase } from '../../../test-support/database';
import { waitUntil } from '../../../test-support/http/load';
import { testLogger } from '../../../test-support/logger';
import { type CommandConsumer, createCommandConsumer } from '../../src/broker/command-consumer';
import { createBatchExecutor } from '../../src/subscriptions/apply-command';

describe('the command consumer, attached to a recovering broker connection as main.ts does', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let pool: Pool;
  let commands: CommandConsumer;
  let connection: RecoveringChannelModel;
  let client: ChannelModel;
  let userId: number;
  /** Every model the recovery set up, and a promise per attach still to come. */
  const models: ChannelModel[] = [];
  let attached: Promise<void>;
  let onAttached: () => void = () => undefined;
  const nextAttach = () => {
    attached = new Promise((resolve) => {
      onAttached = resolve;
    });
  };

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    userId = await database.createUser('Grace');
    pool = createDatabasePool({ ...mysqlServer, database: database.name, connectionLimit: 3 });
    commands = createCommandConsumer({
      prefetch: 8,
      execute: createBatchExecutor(createSubscriptionRepository(pool)),
      recordUnapplied: (command) =>
        createSubscriptionRepository(pool).recordUnapplied(command, new Date()),
      logger: testLogger,
    });
    nextAttach();
    connection = await connectBroker({
      url: vhost.url,
      logger: testLogger,
      async setup(model) {
        models.push(model);
        await commands.attach(model);
        onAttached();
      },
    });
    await attached;
    client = await amqp.connect(vhost.url);
  });

  afterAll(async () => {
    await client?.close();
    await commands?.stop();
    await connection?.close();
    await pool?.end();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  async function purchase(): Promise<Reply> {
    const channel = await client.createChannel();
    try {
      const correlationId = randomUUID();
      const reply = new Promise<Reply>((resolve) => {
        void channel.consume(
          DIRECT_REPLY_QUEUE,
          (message) => {
            if (message?.properties.correlationId === correlationId) {
              resolve(JSON.parse(message.content.toString()) as Reply);
            }
          },
          { noAck: true },
        );
      });
      channel.publish(
        EXCHANGE,
        routingKeyFor('PURCHASED'),
        Buffer.from(JSON.stringify({ user_id: userId })),
        {
          correlationId,
          messageId: randomUUID(),
          replyTo: DIRECT_REPLY_QUEUE,
          contentType: 'application/json',
          headers: { 'x-deadline': Date.now() + 10_000 },
        },
      );
      return await reply;
    } finally {
      await channel.close();
    }
  }

  it('declares the topology, consumes and answers a command', async () => {
    expect(commands.isConsuming()).toBe(true);
    expect(await purchase()).toMatchObject({ ok: true, subscription: { status: 'ACTIVE' } });
  });

  it('when the connection drops, is not consuming until recovery attaches it again', async () => {
    const dropped = new Promise((resolve) => connection.once('disconnect', resolve));
    nextAttach();
    const socket = (models.at(-1)?.connection as unknown as { stream: Socket }).stream;
    socket.destroy(new Error('cut by the test'));
    await dropped;
    expect(commands.isConsuming()).toBe(false);
    await attached;
    expect(models).toHaveLength(2);
    expect(commands.isConsuming()).toBe(true);
    expect(await purchase()).toMatchObject({ ok: true, subscription: { status: 'ACTIVE' } });
  });
});

describe('a command the database cannot take before its deadline', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let pool: Pool;
  let commands: CommandConsumer;
  let connection: ChannelModel;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    pool = createDatabasePool({ ...mysqlServer, database: database.name, connectionLimit: 2 });
    commands = createCommandConsumer({
      prefetch: 4,
      // The database stays away for every batch; the record of a dead letter still gets written.
      execute: async () => ({ kind: 'transient', error: new Error('the database is away') }),
      recordUnapplied: (command) =>
        createSubscriptionRepository(pool).recordUnapplied(command, new Date()),
      logger: testLogger,
    });
    connection = await amqp.connect(vhost.url);
    await commands.attach(connection);
  });

  afterAll(async () => {
    await commands?.stop();
    await connection?.close();
    await pool?.end();
    await Promise.all([vhost?.delete(), database?.drop()]);
  });

  it('is given up unapplied and recorded command_expired, not internal_error', async () => {
    const commandId = `purchase.${Date.now().toString(36)}..MQ.expires.mac`;
    const channel = await connection.createChannel();
    // Three seconds: the retries' backoff reaches 1.6 s, more than a second before the deadline.
    channel.publish(EXCHANGE, routingKeyFor('PURCHASED'), Buffer.from('{"user_id":1}'), {
      messageId: commandId,
      contentType: 'application/json',
      headers: { 'x-deadline': Date.now() + 3_000 },
    });
    await channel.close();

    const { acceptedAt, idHash } = commandRecordKey(commandId);
    let refusal: unknown;
    await waitUntil(
      'the dead letter recorded',
      async () => {
        const [rows] = await database.pool.query<RowDataPacket[]>(
          'SELECT refusal FROM command_record WHERE accepted_at = ? AND id_hash = ?',
          [acceptedAt, idHash],
        );
        refusal = rows[0]?.['refusal'];
        return rows.length > 0;
      },
      10_000,
    );
    expect(JSON.parse(String(refusal))).toMatchObject({ code: 'command_expired' });
  });
});
