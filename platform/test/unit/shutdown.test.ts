import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { closeInOrder } from '../../src';

const logger = pino({ level: 'silent' });

describe('closeInOrder', () => {
  it('runs each step once the one before has finished, and says it went cleanly', async () => {
    const order: string[] = [];
    const step = (name: string, ms: number) => ({
      name,
      close: () =>
        new Promise<void>((resolve) => {
          order.push(`${name} started`);
          setTimeout(() => {
            order.push(`${name} done`);
            resolve();
          }, ms);
        }),
    });
    const clean = await closeInOrder(
      [step('listener', 20), step('connection', 1), step('pool', 5)],
      {
        logger,
        timeoutMs: 1_000,
      },
    );
    expect(clean).toBe(true);
    expect(order).toEqual([
      'listener started',
      'listener done',
      'connection started',
      'connection done',
      'pool started',
      'pool done',
    ]);
  });

  it('goes on past a step that throws, rejects or overruns, and says it was not clean', async () => {
    const ran: string[] = [];
    const clean = await closeInOrder(
      [
        {
          name: 'throws',
          close: () => {
            throw new Error('boom');
          },
        },
        { name: 'rejects', close: () => Promise.reject(new Error('gone')) },
        { name: 'hangs', close: () => new Promise(() => undefined), timeoutMs: 10 },
        { name: 'pool', close: () => void ran.push('pool') },
      ],
      { logger, timeoutMs: 1_000 },
    );
    expect(clean).toBe(false);
    expect(ran).toEqual(['pool']);
  });

  it('accepts steps that are synchronous', async () => {
    let stopped = false;
    await expect(
      closeInOrder([{ name: 'timer', close: () => void (stopped = true) }], {
        logger,
        timeoutMs: 100,
      }),
    ).resolves.toBe(true);
    expect(stopped).toBe(true);
  });
});
