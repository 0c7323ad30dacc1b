import type { Channel, Message } from 'amqplib';

/** How long an ack may wait behind an earlier delivery before it is sent on its own. */
const MAX_ACK_DELAY_MS = 20;

export interface AckTracker {
  /** Notes a delivery, in the order the channel delivered them. */
  received(message: Message): void;
  /** Acks `message`, folded into one `multiple` ack with its neighbours where it can be. */
  ack(message: Message): void;
  /** Nacks `message` at once, on its own. */
  nack(message: Message, requeue: boolean): void;
  /** Sends every ack still held back. */
  flush(): void;
}

/**
 * Acks many deliveries with one frame. An ack with `multiple` settles every delivery up to its
 * tag, so it is sent only for a run of deliveries that are all done, oldest first; a delivery
 * still in work holds the ones after it back, for at most MAX_ACK_DELAY_MS, after which those are
 * acked one by one. Fewer frames means less work for the broker per command.
 */
export function createAckTracker(channel: Channel): AckTracker {
  /** Deliveries not yet acked or nacked, oldest first, and whether each is done. */
  const open = new Map<number, { message: Message; done: boolean }>();
  /** How many of `open` are done: acks held back behind a delivery still in work. */
  let held = 0;
  let timer: NodeJS.Timeout | undefined;

  function flushRun(): void {
    let last: Message | undefined;
    for (const [tag, entry] of open) {
      if (!entry.done) break;
      open.delete(tag);
      held -= 1;
      last = entry.message;
    }
    if (last) channel.ack(last, true);
  }

  function flushAll(): void {
    clearTimeout(timer);
    timer = undefined;
    try {
      flushRun();
      for (const [tag, entry] of open) {
        if (!entry.done) continue;
        open.delete(tag);
        held -= 1;
        channel.ack(entry.message);
      }
    } catch {
      // The channel is gone; the broker redelivers what was not acked, and it is replayed.
    }
  }

  return {
    received(message) {
      open.set(message.fields.deliveryTag, { message, done: false });
    },
    ack(message) {
      const entry = open.get(message.fields.deliveryTag);
      if (!entry) {
        channel.ack(message);
        return;
      }
      entry.done = true;
      held += 1;
      flushRun();
      if (held > 0) timer ??= setTimeout(flushAll, MAX_ACK_DELAY_MS);
    },
    nack(message, requeue) {
      open.delete(message.fields.deliveryTag);
      channel.nack(message, false, requeue);
    },
    flush: flushAll,
  };
}
