import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Api, createApi, type SubscriptionBody } from '../../test-support/http/api';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import {
  type Answer,
  isSuccess,
  printFigures,
  runConcurrently,
  sendPurchase,
  tally,
} from '../../test-support/http/load';
import { waitUntil } from '../../test-support/wait';
import {
  countByUser,
  createUsers,
  findLedgerInconsistencies,
  type LedgerEntry,
  readLedger,
} from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

/** Per phase: purchases for users of their own, so a lost or doubled command shows. */
const PURCHASES = 200;
const CONCURRENCY = 16;
const RPC_TIMEOUT_MS = 10_000;
/** Answers in before the signal, so that it lands with requests in flight. */
const ANSWERS_BEFORE_SIGNAL = 40;

/**
 * Users whose 201 names no row of theirs, whose 503 (not accepted) wrote a row anyway, or who
 * hold more than one row.
 */
function auditPurchases(
  answers: readonly { answer: Answer; userId: number }[],
  ledger: Map<number, LedgerEntry>,
): { unbacked: number[]; refusedButWritten: number[]; doubled: number[] } {
  const perUser = countByUser(ledger);
  const unbacked = answers.flatMap(({ answer, userId }) =>
    answer.status === 201 && ledger.get((answer.body as SubscriptionBody).id)?.userId !== userId
      ? [userId]
      : [],
  );
  const refusedButWritten = answers.flatMap(({ answer, userId }) =>
    answer.status === 503 && perUser.has(userId) ? [userId] : [],
  );
  const doubled = answers.flatMap(({ userId }) => ((perUser.get(userId) ?? 0) > 1 ? [userId] : []));
  return { unbacked, refusedButWritten, doubled };
}

describe('when a process gets SIGTERM under load', () => {
  let stack: FaultStack;
  let consumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let users: number[];

  beforeAll(async () => {
    stack = await createFaultStack();
    consumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    api = createApi(producer.baseUrl);
    users = await createUsers(stack.db.pool, 2 * PURCHASES, 'Shutdown Test');
  });

  afterAll(async () => {
    await stack?.release();
  });

  it(
    'the consumer finishes the commands in hand and exits 0; with a new consumer every ' +
      'purchase is answered 201 and committed once',
    async () => {
      const phaseUsers = users.slice(0, PURCHASES);
      let answered = 0;
      const load = runConcurrently(PURCHASES, CONCURRENCY, async (index) => {
        const userId = phaseUsers[index] as number;
        const answer = await sendPurchase(api, userId);
        answered += 1;
        return { answer, userId };
      });
      const restart = (async () => {
        await waitUntil(
          'answers before SIGTERM',
          () => answered >= ANSWERS_BEFORE_SIGNAL,
          20_000,
          5,
        );
        const signalledAt = performance.now();
        // stop() sends SIGTERM and fails unless the process exits 0.
        await consumer.stop();
        const exitedAt = performance.now();
        const exit = await consumer.waitForExit();
        consumer = await stack.startConsumer();
        return { signalledAt, exitedAt, exit, restartedAt: performance.now() };
      })();
      const [results, timeline] = await Promise.all([load, restart]);
      const answers = results.map(({ answer }) => answer);

      const ledger = await readLedger(stack.db.pool);
      const { unbacked, refusedButWritten, doubled } = auditPurchases(results, ledger);
      const inFlight = answers.filter(
        (answer) =>
          answer.sentAt < timeline.signalledAt && answer.answeredAt > timeline.signalledAt,
      );
      printFigures('consumer SIGTERM under load', {
        sent: answers.length,
        statuses: tally(answers).statuses,
        in_flight_at_signal: inFlight.length,
        in_flight_statuses: tally(inFlight).statuses,
        exit_code: timeline.exit.code,
        sigterm_to_exit_ms: Math.round(timeline.exitedAt - timeline.signalledAt),
        consumer_down_ms: Math.round(timeline.restartedAt - timeline.signalledAt),
        rows: ledger.size,
        unbacked_2xx: unbacked.length,
        refused_but_written: refusedButWritten.length,
        duplicates: doubled.length,
      });
      expect(timeline.exit).toEqual({ code: 0, signal: null });
      expect(tally(answers).statuses).toEqual({ '201': PURCHASES });
      expect(unbacked).toEqual([]);
      expect(refusedButWritten).toEqual([]);
      expect(doubled).toEqual([]);
      expect(ledger.size).toBe(PURCHASES);
      expect(findLedgerInconsistencies(ledger)).toEqual([]);
    },
    60_000,
  );

  it(
    'the producer sees the commands in hand through to their 2xx and exits 0, and every 2xx ' +
      'it gave is committed once',
    async () => {
      const phaseUsers = users.slice(PURCHASES);
      let answered = 0;
      let signalledAt = Number.POSITIVE_INFINITY;
      const load = runConcurrently(PURCHASES, CONCURRENCY, async (index) => {
        // Once the producer is going away, stop sending rather than hammer a closed port.
        if (performance.now() > signalledAt + 1_000) return undefined;
        const userId = phaseUsers[index] as number;
        const answer = await sendPurchase(api, userId);
        answered += 1;
        return { answer, userId };
      });
      const shutdown = (async () => {
        await waitUntil(
          'answers before SIGTERM',
          () => answered >= ANSWERS_BEFORE_SIGNAL,
          20_000,
          5,
        );
        signalledAt = performance.now();
        await producer.stop();
        return { exitedAt: performance.now(), exit: await producer.waitForExit() };
      })();
      const [results, { exitedAt, exit }] = await Promise.all([load, shutdown]);
      const sent = results.flatMap((result) => (result ? [result] : []));
      const answers = sent.map(({ answer }) => answer);

      const ledger = await readLedger(stack.db.pool);
      const { unbacked, refusedButWritten, doubled } = auditPurchases(sent, ledger);
      const inFlight = answers.filter(
        (answer) => answer.sentAt < signalledAt && answer.answeredAt > signalledAt,
      );
      // The commands the producer itself had in hand when the signal came.
      const shuttingDown = await producer.waitForMessage(
        'shutting down: finishing requests in hand',
      );
      const inHand = Number(shuttingDown['pending']);
      printFigures('producer SIGTERM under load', {
        sent: answers.length,
        statuses: tally(answers).statuses,
        codes: tally(answers).codes,
        in_flight_at_signal: inFlight.length,
        in_flight_statuses: tally(inFlight).statuses,
        commands_in_hand_at_signal: inHand,
        exit_code: exit.code,
        sigterm_to_exit_ms: Math.round(exitedAt - signalledAt),
        rows: [...ledger.values()].filter((entry) => phaseUsers.includes(entry.userId)).length,
        unbacked_2xx: unbacked.length,
        refused_but_written: refusedButWritten.length,
        duplicates: doubled.length,
      });
      expect(exit).toEqual({ code: 0, signal: null });
      // Every command in hand at the signal was seen through to its answer, a 2xx.
      expect(inHand).toBeGreaterThan(0);
      expect(inFlight.filter(isSuccess).length).toBeGreaterThanOrEqual(inHand);
      expect(unbacked).toEqual([]);
      expect(refusedButWritten).toEqual([]);
      expect(doubled).toEqual([]);
      expect(findLedgerInconsistencies(ledger)).toEqual([]);
    },
    60_000,
  );
});
