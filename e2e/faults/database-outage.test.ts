import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type Api,
  createApi,
  expectSubscription,
  type SubscriptionBody,
} from '../../test-support/http/api';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import { type BrokerProbe, openBrokerProbe } from '../../test-support/outcomes/dead-letters';
import {
  type Answer,
  isSuccess,
  printFigures,
  runConcurrently,
  runPaced,
  sendPurchase,
  sendStatusChange,
  sendWithRetries,
  type StatusChange,
  tally,
} from '../../test-support/http/load';
import {
  countByUser,
  createUsers,
  findLedgerInconsistencies,
  readLedger,
} from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

/** Purchases at a steady rate, each for a user of its own, so a doubled command shows. */
const PURCHASES = 320;
const INTERVAL_MS = 25;
/** Subscriptions flipped cancel/restart back to back all through the run. */
const FLIPPED = 10;
const CUT_AFTER_MS = 2_000;
/** Shorter than RPC_TIMEOUT_MS: the consumer's retries should ride it out. */
const CUT_FOR_MS = 3_000;
const RPC_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 3;

describe("when the consumer's link to MySQL is cut for a few seconds under load", () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let probe: BrokerProbe;
  let users: number[];
  let flipped: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    consumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    api = createApi(producer.baseUrl);
    probe = await openBrokerProbe(stack.vhost.url);
    users = await createUsers(stack.db.pool, PURCHASES + 1, 'Database Outage');
    const owner = users.pop() as number;
    flipped = await runConcurrently(FLIPPED, FLIPPED, async () => {
      const bought = await api.purchase({ user_id: owner });
      return expectSubscription(bought, 201, { user_id: owner, status: 'ACTIVE' }).id;
    });
  });

  afterAll(async () => {
    await probe?.close();
    await stack?.release();
  });

  it(
    'the consumer retries until the database is back: every request ends 2xx, each command ' +
      'is applied once, and nothing is dead-lettered',
    async () => {
      let loadRunning = true;
      const purchases = runPaced(PURCHASES, INTERVAL_MS, (index) => {
        const key = randomUUID();
        return sendWithRetries(() => sendPurchase(api, users[index] as number, key), {
          maxAttempts: MAX_ATTEMPTS,
        });
      });
      // Each flipped subscription goes cancel, restart, cancel, ... one keyed change at a time.
      const flips = Promise.all(
        flipped.map(async (id) => {
          const changes: { change: StatusChange; answers: Answer[] }[] = [];
          for (let change: StatusChange = 'cancel'; loadRunning;) {
            const key = randomUUID();
            const answers = await sendWithRetries(() => sendStatusChange(api, id, change, key), {
              maxAttempts: MAX_ATTEMPTS,
            });
            changes.push({ change, answers });
            if (!isSuccess(answers.at(-1) as Answer)) break;
            change = change === 'cancel' ? 'restart' : 'cancel';
          }
          return changes;
        }),
      );
      const outage = (async () => {
        await new Promise((resolve) => setTimeout(resolve, CUT_AFTER_MS));
        stack.databaseProxy.sever();
        await new Promise((resolve) => setTimeout(resolve, CUT_FOR_MS));
        stack.databaseProxy.restore();
      })();
      const [purchaseAttempts] = await Promise.all([
        purchases.finally(() => {
          loadRunning = false;
        }),
        outage,
      ]);
      const flipResults = await flips;

      const purchaseFinals = purchaseAttempts.map((attempts) => attempts.at(-1) as Answer);
      const flipAttempts = flipResults.flat().map(({ answers }) => answers);
      const allAttempts = [...purchaseAttempts, ...flipAttempts].flat();
      const ledger = await readLedger(stack.db.pool);
      const perUser = countByUser(ledger);
      const deadLetters = await probe.countDeadLetters();
      const latencies = allAttempts.map((answer) => answer.answeredAt - answer.sentAt);
      const transientRetries = consumer
        .logLines()
        .filter((line) => line.msg === 'transient database failure, retrying').length;
      printFigures('database link cut', {
        purchases: PURCHASES,
        status_changes: flipAttempts.length,
        requests: allAttempts.length,
        first_attempts: tally([...purchaseAttempts, ...flipAttempts].map((a) => a[0] as Answer))
          .statuses,
        retried: [...purchaseAttempts, ...flipAttempts].filter((a) => a.length > 1).length,
        finals: tally([...purchaseFinals, ...flipAttempts.map((a) => a.at(-1) as Answer)]).statuses,
        max_latency_ms: Math.round(Math.max(...latencies)),
        transient_retries_logged: transientRetries,
        connections_refused_while_cut: stack.databaseProxy.refusedConnections,
        rows: ledger.size,
        duplicates: users.filter((userId) => (perUser.get(userId) ?? 0) > 1).length,
        dead_letters: deadLetters,
        flipped_versions: flipped.map((id) => ledger.get(id)?.version),
      });

      // Every purchase ended in a 201 for its own user, whose one row it names.
      expect(tally(purchaseFinals).statuses).toEqual({ '201': PURCHASES });
      const misplaced = purchaseFinals.flatMap((answer, index) => {
        const userId = users[index] as number;
        const entry = ledger.get((answer.body as SubscriptionBody).id);
        return entry?.userId === userId && perUser.get(userId) === 1 ? [] : [userId];
      });
      expect(misplaced).toEqual([]);
      // Every status change ended in a 200, and the row moved once per change answered.
      flipResults.forEach((changes, index) => {
        const finals = changes.map(({ answers }) => answers.at(-1) as Answer);
        expect(tally(finals).statuses).toEqual({ '200': changes.length });
        expect(ledger.get(flipped[index] as number)?.version).toBe(changes.length);
      });
      expect(findLedgerInconsistencies(ledger)).toEqual([]);
      // The cut reached the consumer mid-work, which retried and dead-lettered nothing.
      expect(transientRetries).toBeGreaterThan(0);
      expect(deadLetters).toBe(0);
      expect(consumer.logLines().filter((line) => line.msg === 'consuming commands')).toHaveLength(
        1,
      );
    },
    60_000,
  );
});
