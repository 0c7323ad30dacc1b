import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Channel, Message } from 'amqplib';
import { createAckTracker, type AckTracker } from '../../src/broker/ack-tracker';

const delivery = (tag: number) => ({ fields: { deliveryTag: tag } }) as unknown as Message;

describe('ack tracker', () => {
  let frames: string[];
  let tracker: AckTracker;

  beforeEach(() => {
    jest.useFakeTimers();
    frames = [];
    const channel = {
      ack: (message: Message, allUpTo = false) =>
        frames.push(`ack ${message.fields.deliveryTag}${allUpTo ? ' multiple' : ''}`),
      nack: (message: Message, _allUpTo: boolean, requeue: boolean) =>
        frames.push(`nack ${message.fields.deliveryTag}${requeue ? ' requeue' : ''}`),
    } as unknown as Channel;
    tracker = createAckTracker(channel);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('acks a run of finished deliveries, oldest first, with one multiple ack', () => {
    [1, 2, 3, 4].forEach((tag) => tracker.received(delivery(tag)));
    tracker.ack(delivery(3));
    tracker.ack(delivery(2));
    expect(frames).toEqual([]);
    tracker.ack(delivery(1));
    expect(frames).toEqual(['ack 3 multiple']);
    tracker.ack(delivery(4));
    expect(frames).toEqual(['ack 3 multiple', 'ack 4 multiple']);
  });

  it('never lets a multiple ack cover a delivery still in work', () => {
    [1, 2, 3].forEach((tag) => tracker.received(delivery(tag)));
    tracker.ack(delivery(2));
    tracker.ack(delivery(3));
    expect(frames).toEqual([]);
    // The held-back ones go on their own after a short wait, leaving 1 unacked.
    jest.advanceTimersByTime(20);
    expect(frames).toEqual(['ack 2', 'ack 3']);
    tracker.ack(delivery(1));
    expect(frames).toEqual(['ack 2', 'ack 3', 'ack 1 multiple']);
  });

  it('nacks at once, on its own, and a later multiple ack does not need it', () => {
    [1, 2, 3].forEach((tag) => tracker.received(delivery(tag)));
    tracker.nack(delivery(1), false);
    tracker.nack(delivery(2), true);
    tracker.ack(delivery(3));
    expect(frames).toEqual(['nack 1', 'nack 2 requeue', 'ack 3 multiple']);
  });

  it('flush sends everything held back', () => {
    [1, 2].forEach((tag) => tracker.received(delivery(tag)));
    tracker.ack(delivery(2));
    tracker.flush();
    expect(frames).toEqual(['ack 2']);
  });
});
