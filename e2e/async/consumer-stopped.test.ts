import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Api, createApi, expectProblem } from '../../test-support/http/api';
import {
  type CommandBody,
  expectAccepted,
  expectCommand,
  expectCompletedWithProblem,
  expectPurchased,
  readCommand,
  RESPOND_ASYNC,
  submitPurchase,
  waitForAllCompleted,
} from '../../test-support/http/commands';
import { printFigures, runConcurrently } from '../../test-support/http/load';
import { countByUser, createUsers, readLedger } from '../../test-support/outcomes/ledger';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

/** The outage: longer than the RPC deadline, so every synchronous call times out. */
const STOPPED_FOR_MS = 30_000;
const RPC_TIMEOUT_MS = 5_000;
const ASYNC_PURCHASES = 100;
const SYNC_PURCHASES = 10;
const CONCURRENCY = 10;
/** A restarted consumer drains a backlog of a hundred commands in well under this. */
const DRAIN_WITHIN_MS = 20_000;

describe('while the consumer is stopped for 30 s', () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let asyncUsers: number[];
  let syncUsers: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    consumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    api = createApi(producer.baseUrl);
    [asyncUsers, syncUsers] = await Promise.all([
      createUsers(stack.db.pool, ASYNC_PURCHASES / 10, 'Queued Async'),
      createUsers(stack.db.pool, SYNC_PURCHASES, 'Queued Sync'),
    ]);
  });

  afterAll(async () => {
    await stack?.release();
  });

  it(
    'asynchronous purchases wait in the queue and are all applied once it is back; synchronous ones ' +
      'answer 504 with a Location whose command completes as expired, applying nothing',
    async () => {
      await consumer.stop();
      const stoppedAt = performance.now();

      const [queued, timedOut] = await Promise.all([
        runConcurrently(ASYNC_PURCHASES, CONCURRENCY, async (index) => {
          const userId = asyncUsers[index % asyncUsers.length] as number;
          const answer = await submitPurchase(api, userId, { prefer: RESPOND_ASYNC });
          return { userId, command: expectAccepted(answer, 'purchase') };
        }),
        runConcurrently(SYNC_PURCHASES, SYNC_PURCHASES, async (index) => {
          const answer = await submitPurchase(api, syncUsers[index] as number);
          expectProblem(answer, 504, 'reply_timeout');
          const location = answer.headers.get('location') ?? '';
          expect(location).toMatch(/^\/api\/v1\/commands\/purchase\./);
          return location.slice(location.lastIndexOf('/') + 1);
        }),
      ]);
      // Every answer came while the consumer was stopped: it starts again only below.
      const answeredMs = performance.now() - stoppedAt;
      const ids = [...queued.map(({ command }) => command.id), ...timedOut];
      expect(new Set(ids).size).toBe(ASYNC_PURCHASES + SYNC_PURCHASES);

      // The outage lasts its full 30 s: the fault, not a wait on an outcome.
      await sleep(Math.max(0, stoppedAt + STOPPED_FOR_MS - performance.now()));
      const atTheEnd = await runConcurrently(ids.length, CONCURRENCY, async (index) =>
        expectCommand(await readCommand(api, ids[index] as string), ids[index] as string),
      );
      expect(atTheEnd.filter((command) => command.state !== 'pending')).toEqual([]);
      expect(await readLedger(stack.db.pool)).toEqual(new Map());

      const restartedAt = performance.now();
      await stack.startConsumer();
      const { commands, drainedAt } = await waitForAllCompleted(api, ids, {
        timeoutMs: DRAIN_WITHIN_MS,
      });

      const ledger = await readLedger(stack.db.pool);
      const perUser = countByUser(ledger);
      printFigures('consumer stopped', {
        stopped_ms: Math.round(restartedAt - stoppedAt),
        async_accepted: queued.length,
        sync_504: timedOut.length,
        answered_ms: Math.round(answeredMs),
        drain_ms: Math.round(drainedAt - restartedAt),
        rows: ledger.size,
      });
      for (const { userId, command } of queued) {
        const subscription = expectPurchased(commands.get(command.id) as CommandBody, userId);
        expect(ledger.get(subscription.id)).toEqual(
          expect.objectContaining({ userId, status: 'ACTIVE', events: ['SUBSCRIPTION_PURCHASED'] }),
        );
      }
      expect(ledger.size).toBe(ASYNC_PURCHASES);
      for (const id of timedOut) {
        expectCompletedWithProblem(commands.get(id) as CommandBody, 503, 'command_expired');
      }
      expect(syncUsers.map((userId) => perUser.get(userId) ?? 0)).toEqual(syncUsers.map(() => 0));
    },
    STOPPED_FOR_MS + 60_000,
  );
});
