import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Api, createApi, expectSubscription } from '../../test-support/http/api';
import {
  type CommandBody,
  expectAccepted,
  expectCommand,
  expectPurchased,
  percentile,
  readCommand,
  RESPOND_ASYNC,
  submitPurchase,
  waitForAllCompleted,
  waitForCompletion,
} from '../../test-support/http/commands';
import { printFigures, runConcurrently, waitUntil } from '../../test-support/http/load';
import { type BrokerProbe, openBrokerProbe } from '../../test-support/outcomes/dead-letters';
import {
  countByUser,
  createUsers,
  findLedgerInconsistencies,
  readLedger,
} from '../../test-support/outcomes/ledger';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

const PURCHASES = 200;
/** Several users, so that a command applied for the wrong one shows in the per-user counts. */
const USERS = 20;
/** Clients at once. Each 202 waits for the broker's confirm, never for the database. */
const CONCURRENCY = 10;
/** The outage: far longer than any one retry of the consumer. */
const CUT_FOR_MS = 10_000;
/** Once the database is back, the consumer's backoff (2 s at most) and one pass of commits. */
const DRAIN_WITHIN_MS = 20_000;
const RPC_TIMEOUT_MS = 10_000;
const RETRY_LOG = 'transient database failure, retrying';

const retriesLogged = (consumer: ServiceProcess) =>
  consumer.logLines().filter((line) => line.msg === RETRY_LOG).length;

describe("asynchronous purchases while the consumer's link to MySQL is cut for 10 s", () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let probe: BrokerProbe;
  let users: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    consumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    api = createApi(producer.baseUrl);
    probe = await openBrokerProbe(stack.vhost.url);
    users = await createUsers(stack.db.pool, USERS + 1, 'Async Outage');
    // One purchase each way first, so that the figures measure the 202s rather than the first
    // request's connections and compilation.
    const warmUp = users.pop() as number;
    expectSubscription(await api.purchase({ user_id: warmUp }), 201, {
      user_id: warmUp,
      status: 'ACTIVE',
    });
    const first = expectAccepted(
      await submitPurchase(api, warmUp, { prefer: RESPOND_ASYNC }),
      'purchase',
    );
    expectPurchased(await waitForCompletion(api, first.id, { timeoutMs: 5_000 }), warmUp);
  });

  afterAll(async () => {
    await probe?.close();
    await stack?.release();
  });

  it(
    `accepts all ${PURCHASES} with 202 while the database is away, keeps them pending, then ` +
      'completes each with 201, applied exactly once',
    async () => {
      const retriesBefore = retriesLogged(consumer);
      stack.databaseProxy.sever();
      const cutAt = performance.now();

      const sent = await runConcurrently(PURCHASES, CONCURRENCY, async (index) => {
        const userId = users[index % USERS] as number;
        return { userId, answer: await submitPurchase(api, userId, { prefer: RESPOND_ASYNC }) };
      });
      const loadMs = performance.now() - cutAt;
      const accepted = sent.map(({ userId, answer }) => ({
        userId,
        command: expectAccepted(answer, 'purchase'),
      }));
      const ids = accepted.map(({ command }) => command.id);
      // Every purchase was sent and answered while the database was away: it comes back only
      // once they all are. How fast a 202 comes is the benchmark's figure (the async cell).
      expect(new Set(ids).size).toBe(PURCHASES);

      // The consumer took commands and met the cut: the 202s did not wait for it.
      await waitUntil(
        'the consumer to retry against the cut database',
        () => retriesLogged(consumer) > retriesBefore,
        CUT_FOR_MS,
      );
      // The cut lasts at least its 10 s however fast the load went: the fault, not a wait on an
      // outcome.
      await sleep(Math.max(0, cutAt + CUT_FOR_MS - performance.now()));
      // The last reads of the cut: nothing could be applied, so everything is still pending.
      const atTheEnd = await runConcurrently(PURCHASES, CONCURRENCY, async (index) =>
        expectCommand(await readCommand(api, ids[index] as string), ids[index] as string),
      );
      const cutMs = performance.now() - cutAt;
      stack.databaseProxy.restore();
      const restoredAt = performance.now();
      expect(atTheEnd.filter((command) => command.state !== 'pending')).toEqual([]);

      const { commands, drainedAt } = await waitForAllCompleted(api, ids, {
        timeoutMs: DRAIN_WITHIN_MS,
      });
      const ledger = await readLedger(stack.db.pool);
      const perUser = countByUser(ledger);
      const latencies = sent.map(({ answer }) => answer.latencyMs);
      const deadLetters = await probe.countDeadLetters();
      printFigures('async purchases, database cut', {
        purchases: PURCHASES,
        users: USERS,
        concurrency: CONCURRENCY,
        accept_p50_ms: percentile(latencies, 0.5),
        accept_p99_ms: percentile(latencies, 0.99),
        accept_max_ms: percentile(latencies, 1),
        load_ms: Math.round(loadMs),
        cut_ms: Math.round(cutMs),
        drain_ms: Math.round(drainedAt - restoredAt),
        transient_retries_logged: retriesLogged(consumer) - retriesBefore,
        rows: users.reduce((sum, userId) => sum + (perUser.get(userId) ?? 0), 0),
        dead_letters: deadLetters,
      });

      // Each command completed as the purchase it was, for its own user, with a row of its own.
      const subscriptionIds = accepted.map(({ userId, command }) => {
        const completed = commands.get(command.id) as CommandBody;
        expect(completed).toEqual(
          expect.objectContaining({
            id: command.id,
            type: 'purchase',
            accepted_at: command.accepted_at,
          }),
        );
        const subscription = expectPurchased(completed, userId);
        expect(ledger.get(subscription.id)).toEqual(
          expect.objectContaining({ userId, status: 'ACTIVE', events: ['SUBSCRIPTION_PURCHASED'] }),
        );
        return subscription.id;
      });
      expect(new Set(subscriptionIds).size).toBe(PURCHASES);
      // No purchase was applied twice: each user holds exactly the rows its commands name.
      expect(users.map((userId) => perUser.get(userId) ?? 0)).toEqual(
        users.map(() => PURCHASES / USERS),
      );
      expect(findLedgerInconsistencies(ledger)).toEqual([]);
      // The consumer waited for the database rather than giving up on any command or restarting.
      expect(deadLetters).toBe(0);
      expect(consumer.logLines().filter((line) => line.msg === 'consuming commands')).toHaveLength(
        1,
      );
    },
    60_000,
  );
});
