import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { testLogger } from '../../../test-support/logger';
import { AppError } from '../../src/errors';
import { createRpcClient, type RpcClient } from '../../src/broker/rpc-client';

/** Records publishes and lets a test play the broker: confirm, return, reply, close. */
class FakeConfirmChannel extends EventEmitter {
  /** What `publish` answers: false means the socket buffer is full. */
  writable = true;
  published: {
    routingKey: string;
    content: Buffer;
    options: Options.Publish;
    confirm(error?: Error): void;
  }[] = [];
  closed = false;
  private onReply: ((message: ConsumeMessage | null) => void) | undefined;

  async close() {
    this.closed = true;
    this.emit('close');
  }

  async assertExchange() {
    return {};
  }
  async consume(_queue: string, onMessage: (message: ConsumeMessage | null) => void) {
    this.onReply = onMessage;
    return { consumerTag: 'reply' };
  }
  publish(
    _exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    callback: (error: Error | null) => void,
  ) {
    this.published.push({
      routingKey,
      content,
      options,
      confirm: (error) => callback(error ?? null),
    });
    return this.writable;
  }
  reply(correlationId: string, body: unknown) {
    this.onReply?.({
      content: Buffer.from(JSON.stringify(body)),
      properties: { correlationId },
    } as unknown as ConsumeMessage);
  }
  returnUnroutable(correlationId: string) {
    this.emit('return', { properties: { correlationId } });
  }
}

/** Starts a call whose outcome the test does not look at. */
function ignore(call: Promise<unknown>): void {
  call.catch(() => undefined);
}

const subscription = {
  id: 1,
  user_id: 2,
  status: 'ACTIVE',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: null,
};

describe('rpc client correlation map', () => {
  /** Every channel the client opened, oldest first. */
  let channels: FakeConfirmChannel[];
  let channel: FakeConfirmChannel;
  let model: EventEmitter;
  let rpc: RpcClient;
  const closeModel = jest.fn(async () => undefined);

  beforeEach(async () => {
    jest.useFakeTimers();
    closeModel.mockClear();
    channels = [];
    rpc = createRpcClient({ timeoutMs: 1_000, logger: testLogger, maxPending: 3 });
    model = Object.assign(new EventEmitter(), {
      createConfirmChannel: async () => {
        const opened = new FakeConfirmChannel();
        channels.push(opened);
        return opened;
      },
      close: closeModel,
    });
    await rpc.attach(model as unknown as ChannelModel);
    channel = channels[0] as FakeConfirmChannel;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  function lastCorrelationId(): string {
    return String(channel.published.at(-1)?.options.correlationId);
  }

  async function codeOf(call: Promise<unknown>): Promise<string> {
    const error = await call.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).code;
  }

  it('carries the Idempotency-Key and its scope in the headers when given', () => {
    ignore(
      rpc.call(
        'purchase',
        { user_id: 1 },
        {
          commandId: 'cmd-r',
          requestId: 'r',
          idempotency: { scope: 'user-7', key: 'k-1' },
        },
      ),
    );
    expect(channel.published[0]?.options.headers).toMatchObject({
      'x-idempotency-key': 'k-1',
      'x-idempotency-scope': 'user-7',
    });
  });

  it('publishes a persistent, mandatory command with reply-to, deadline and request id', () => {
    ignore(
      rpc.call('cancel', { subscription_id: 5 }, { commandId: 'cmd-req-1', requestId: 'req-1' }),
    );
    const [message] = channel.published;
    expect(message?.routingKey).toBe('SUBSCRIPTIONS_CANCELED');
    expect(JSON.parse(String(message?.content))).toEqual({ subscription_id: 5 });
    expect(message?.options).toMatchObject({
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
      replyTo: 'amq.rabbitmq.reply-to',
      expiration: '1000',
      headers: { 'x-request-id': 'req-1', 'x-deadline': expect.any(Number) },
    });
    expect(message?.options.messageId).toBe('cmd-req-1');
  });

  it('resolves the call whose correlation id the reply carries, and forgets it', async () => {
    const first = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    const firstId = lastCorrelationId();
    const second = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-b', requestId: 'b' });
    channel.reply(firstId, { ok: true, subscription });
    await expect(first).resolves.toEqual({ ok: true, subscription });
    expect(rpc.pendingCount()).toBe(1);
    channel.reply(lastCorrelationId(), {
      ok: false,
      error: { code: 'user_not_found', message: 'x' },
    });
    await expect(second).resolves.toMatchObject({ ok: false });
    expect(rpc.pendingCount()).toBe(0);
  });

  it('rejects with reply_timeout at the deadline and frees the entry', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.published[0]?.confirm();
    jest.advanceTimersByTime(1_000);
    expect(await codeOf(call)).toBe('reply_timeout');
    expect(rpc.pendingCount()).toBe(0);
  });

  it('ignores a reply that arrives after the deadline', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    const id = lastCorrelationId();
    jest.advanceTimersByTime(1_000);
    expect(await codeOf(call)).toBe('reply_timeout');
    expect(() => channel.reply(id, { ok: true, subscription })).not.toThrow();
  });

  it('rejects an unroutable command at once with broker_unavailable', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.returnUnroutable(lastCorrelationId());
    expect(await codeOf(call)).toBe('broker_unavailable');
    expect(rpc.pendingCount()).toBe(0);
  });

  it('publishes a nacked command again on a new channel, same ids, and takes its reply', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    const first = channel.published[0];
    first?.confirm(new Error('message nacked'));
    await jest.advanceTimersByTimeAsync(99);
    expect(channels).toHaveLength(2);
    const fresh = channels[1] as FakeConfirmChannel;
    expect(fresh.published).toHaveLength(0);

    await jest.advanceTimersByTimeAsync(1);
    const again = fresh.published[0];
    expect(again?.options).toMatchObject({
      messageId: first?.options.messageId,
      correlationId: first?.options.correlationId,
      headers: first?.options.headers,
      expiration: '900',
    });
    again?.confirm();
    fresh.reply(String(again?.options.correlationId), { ok: true, subscription });

    await expect(call).resolves.toEqual({ ok: true, subscription });
    expect(rpc.republishedCount()).toBe(1);
    expect(channel.closed).toBe(true);
    expect(closeModel).not.toHaveBeenCalled();
    expect(rpc.isConnected()).toBe(true);
  });

  it('backs off between re-publishes and answers command_not_confirmed at the deadline', async () => {
    const outcome = codeOf(
      rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' }),
    );
    const publishedAt: number[] = [];
    const nackEverything = () => {
      for (const opened of channels) {
        for (const message of opened.published.splice(0)) {
          publishedAt.push(Date.now());
          message.confirm(new Error('message nacked'));
        }
      }
    };
    const start = Date.now();
    for (let ms = 0; ms < 1_000; ms += 10) {
      nackEverything();
      await jest.advanceTimersByTimeAsync(10);
    }

    expect(await outcome).toBe('command_not_confirmed');
    expect(publishedAt.map((at) => at - start)).toEqual([0, 100, 300, 700]);
    expect(rpc.republishedCount()).toBe(3);
    expect(rpc.pendingCount()).toBe(0);
  });

  it('after a failed replacement, publishes the waiting call again only after its backoff', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    let failReplacement: (error: Error) => void = () => undefined;
    Object.assign(model, {
      createConfirmChannel: () =>
        new Promise((_resolve, reject) => {
          failReplacement = reject;
        }),
    });
    channel.published.splice(0)[0]?.confirm(new Error('message nacked'));
    // The first re-publish waits for the replacement under way, which then fails.
    await jest.advanceTimersByTimeAsync(150);
    failReplacement(new Error('channel.open failed'));
    await jest.advanceTimersByTimeAsync(0);
    expect(channel.published).toHaveLength(0);

    await jest.advanceTimersByTimeAsync(199);
    expect(channel.published).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(channel.published).toHaveLength(1);
    channel.published[0]?.confirm();
    channel.reply(lastCorrelationId(), { ok: true, subscription });
    await expect(call).resolves.toEqual({ ok: true, subscription });
    expect(rpc.republishedCount()).toBe(1);
  });

  it('keeps a replaced channel open until the calls published on it have their replies', async () => {
    const waiting = rpc.call('purchase', { user_id: 1 }, { commandId: 'cmd-a', requestId: 'a' });
    const waitingId = lastCorrelationId();
    channel.published[0]?.confirm();
    const nacked = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-b', requestId: 'b' });
    channel.published[1]?.confirm(new Error('message nacked'));
    await jest.advanceTimersByTimeAsync(0);
    const fresh = channels[1] as FakeConfirmChannel;

    const meanwhile = rpc.call('purchase', { user_id: 3 }, { commandId: 'cmd-c', requestId: 'c' });
    expect(channel.published).toHaveLength(2);
    expect(fresh.published).toHaveLength(1);
    expect(channel.closed).toBe(false);

    channel.reply(waitingId, { ok: true, subscription });
    await expect(waiting).resolves.toEqual({ ok: true, subscription });
    expect(channel.closed).toBe(true);
    expect(closeModel).not.toHaveBeenCalled();

    await jest.advanceTimersByTimeAsync(100);
    expect(fresh.published).toHaveLength(2);
    for (const message of fresh.published) {
      message.confirm();
      fresh.reply(String(message.options.correlationId), { ok: true, subscription });
    }
    await expect(nacked).resolves.toMatchObject({ ok: true });
    await expect(meanwhile).resolves.toMatchObject({ ok: true });
  });

  it('answers reply_lost when the connection drops while a re-publish awaits its confirm', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.published[0]?.confirm(new Error('message nacked'));
    await jest.advanceTimersByTimeAsync(100);
    const fresh = channels[1] as FakeConfirmChannel;
    expect(fresh.published).toHaveLength(1);

    fresh.emit('close');

    expect(await codeOf(call)).toBe('reply_lost');
    expect(closeModel).toHaveBeenCalled();
  });

  it('publishes a nacked command on the next connection if it comes before the deadline', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.published[0]?.confirm(new Error('message nacked'));
    await jest.advanceTimersByTimeAsync(0);
    (channels[1] as FakeConfirmChannel).emit('close');
    expect(rpc.pendingCount()).toBe(1);

    await jest.advanceTimersByTimeAsync(250);
    await rpc.attach(model as unknown as ChannelModel);
    await jest.advanceTimersByTimeAsync(200);
    const next = channels[2] as FakeConfirmChannel;
    expect(next.published).toHaveLength(1);
    next.published[0]?.confirm();
    next.reply(lastCorrelationIdOf(next), { ok: true, subscription });
    await expect(call).resolves.toMatchObject({ ok: true });
    expect(rpc.republishedCount()).toBe(1);
  });

  function lastCorrelationIdOf(opened: FakeConfirmChannel): string {
    return String(opened.published.at(-1)?.options.correlationId);
  }

  it('on channel loss, fails every pending call as outcome unknown, confirmed or not', async () => {
    const unconfirmed = rpc.call(
      'purchase',
      { user_id: 2 },
      { commandId: 'cmd-a', requestId: 'a' },
    );
    const confirmed = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-b', requestId: 'b' });
    channel.published[1]?.confirm();
    channel.emit('close');
    expect(await codeOf(unconfirmed)).toBe('reply_lost');
    expect(await codeOf(confirmed)).toBe('reply_lost');
    expect(rpc.pendingCount()).toBe(0);
    expect(rpc.isConnected()).toBe(false);
    expect(closeModel).toHaveBeenCalled();
  });

  it('does not take the "channel closed" failure of an unconfirmed publish for a refusal', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.published[0]?.confirm(new Error('channel closed'));
    expect(rpc.pendingCount()).toBe(1);
    channel.emit('close');
    expect(await codeOf(call)).toBe('reply_lost');
  });

  it('refuses calls at once while no channel is open', async () => {
    channel.emit('close');
    expect(
      await codeOf(rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' })),
    ).toBe('broker_unavailable');
  });

  it('refuses a call with overloaded once maxPending calls are waiting', async () => {
    for (let i = 0; i < 3; i += 1)
      ignore(rpc.call('purchase', { user_id: i + 1 }, { commandId: 'cmd-a', requestId: 'a' }));
    expect(
      await codeOf(rpc.call('purchase', { user_id: 9 }, { commandId: 'cmd-b', requestId: 'b' })),
    ).toBe('overloaded');
    expect(channel.published).toHaveLength(3);
    jest.advanceTimersByTime(1_000);
    expect(rpc.pendingCount()).toBe(0);
  });

  it('refuses calls while the socket buffer is full, until it drains', async () => {
    channel.writable = false;
    ignore(rpc.call('purchase', { user_id: 1 }, { commandId: 'cmd-a', requestId: 'a' }));
    expect(
      await codeOf(rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-b', requestId: 'b' })),
    ).toBe('overloaded');
    channel.emit('drain');
    channel.writable = true;
    ignore(rpc.call('purchase', { user_id: 3 }, { commandId: 'cmd-c', requestId: 'c' }));
    expect(channel.published).toHaveLength(2);
    jest.advanceTimersByTime(1_000);
  });

  it('refuses calls while the broker blocks publishing, until it unblocks', async () => {
    model.emit('blocked', 'low on memory');
    expect(
      await codeOf(rpc.call('purchase', { user_id: 1 }, { commandId: 'cmd-a', requestId: 'a' })),
    ).toBe('broker_unavailable');
    model.emit('unblocked');
    ignore(rpc.call('purchase', { user_id: 1 }, { commandId: 'cmd-b', requestId: 'b' }));
    expect(channel.published).toHaveLength(1);
    jest.advanceTimersByTime(1_000);
  });

  it('treats a reply it cannot read as an internal error', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    channel.reply(lastCorrelationId(), { ok: 'maybe' });
    expect(await codeOf(call)).toBe('internal_error');
  });

  it('drains: refuses new calls and resolves once the pending ones settle', async () => {
    const call = rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-a', requestId: 'a' });
    let drained = false;
    const draining = rpc.drain().then(() => {
      drained = true;
    });
    expect(
      await codeOf(rpc.call('purchase', { user_id: 2 }, { commandId: 'cmd-b', requestId: 'b' })),
    ).toBe('broker_unavailable');
    await Promise.resolve();
    expect(drained).toBe(false);
    channel.reply(lastCorrelationId(), { ok: true, subscription });
    await call;
    await draining;
    expect(drained).toBe(true);
  });
});
