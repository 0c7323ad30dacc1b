import { EventEmitter } from 'node:events';
import { describe, expect, it, jest } from '@jest/globals';
import pino from 'pino';
import { closeInOrder, handleStopSignals } from '../../src';

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

describe('handleStopSignals', () => {
  /** A process that records its exit code; `exited` resolves with it. */
  function fakeProcess() {
    const emitter = new EventEmitter();
    let exit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => {
      exit = resolve;
    });
    return { process: Object.assign(emitter, { exit: jest.fn(exit) }), exited };
  }

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s runs the shutdown once, however many signals follow, and exits 0 when it was clean',
    async (signal) => {
      const { process, exited } = fakeProcess();
      const stop = jest.fn(async (_signal: NodeJS.Signals) => true);
      handleStopSignals({ process, logger, stop });
      process.emit(signal, signal);
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGINT', 'SIGINT');
      expect(await exited).toBe(0);
      expect(stop.mock.calls).toEqual([[signal]]);
      expect(process.exit).toHaveBeenCalledTimes(1);
    },
  );

  it('exits 1 when a step was not clean, or the shutdown itself failed', async () => {
    const unclean = fakeProcess();
    handleStopSignals({ process: unclean.process, logger, stop: async () => false });
    unclean.process.emit('SIGTERM', 'SIGTERM');
    expect(await unclean.exited).toBe(1);

    const failed = fakeProcess();
    handleStopSignals({
      process: failed.process,
      logger,
      stop: () => Promise.reject(new Error('boom')),
    });
    failed.process.emit('SIGINT', 'SIGINT');
    expect(await failed.exited).toBe(1);
  });

  it('leaves the process alone until a signal comes', () => {
    const { process } = fakeProcess();
    const stop = jest.fn(async () => true);
    handleStopSignals({ process, logger, stop });
    expect(stop).not.toHaveBeenCalled();
    expect(process.exit).not.toHaveBeenCalled();
  });
});
