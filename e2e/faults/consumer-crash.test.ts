import { randomUUID } from 'node:crypto';
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
  sendWithRetries,
  tally,
} from '../../test-support/http/load';
import { waitUntil } from '../../test-support/wait';
import { findLedgerInconsistencies, readLedger } from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

const PURCHASES = 200;
const CONCURRENCY = 20;
const RPC_TIMEOUT_MS = 3_000;
/** Answers in before the consumer is killed, so that the kill lands in the middle of the burst. */
const ANSWERS_BEFORE_KILL = 50;
/** Attempts per key after the burst. */
const RETRY_ATTEMPTS = 6;

describe('when the consumer is SIGKILLed in the middle of a burst of purchases with Idempotency-Keys', () => {
  let stack: FaultStack;
  let firstConsumer: ServiceProcess;
  let producer: Producer;
  let api: Api;
  let userId: number;

  beforeAll(async () => {
    stack = await createFaultStack();
    firstConsumer = await stack.startConsumer();
    producer = await stack.startProducer({ rpcTimeoutMs: RPC_TIMEOUT_MS });
    api = createApi(producer.baseUrl);
    userId = await stack.db.createUser('Crash Test');
  });

  afterAll(async () => {
    await stack?.release();
  });

  it(
    'retrying each unanswered purchase with its key leaves exactly one subscription per key, ' +
      'and repeating any purchase replays its 201 with Idempotent-Replayed',
    async () => {
      const keys = Array.from({ length: PURCHASES }, () => randomUUID());
      const purchase = (index: number) => sendPurchase(api, userId, keys[index]);
      let answered = 0;
      let timedOut = 0;

      const burst = runConcurrently(PURCHASES, CONCURRENCY, async (index) => {
        const answer = await purchase(index);
        answered += 1;
        if (answer.status === 504) timedOut += 1;
        return answer;
      });
      const crash = (async () => {
        await waitUntil(
          'answers before the kill',
          () => answered >= ANSWERS_BEFORE_KILL,
          20_000,
          5,
        );
        const killedAt = performance.now();
        await firstConsumer.kill();
        // Stay down until the burst feels it: the first command left without a consumer times out.
        await waitUntil('a purchase to time out', () => timedOut > 0, RPC_TIMEOUT_MS + 5_000, 20);
        await stack.startConsumer();
        return { killedAt, restartedAt: performance.now() };
      })();
      const [burstAnswers, { killedAt, restartedAt }] = await Promise.all([burst, crash]);

      const unanswered = keys.flatMap((_, index) =>
        isSuccess(burstAnswers[index] as Answer) ? [] : [index],
      );
      const retries = await runConcurrently(unanswered.length, CONCURRENCY, (position) =>
        sendWithRetries(() => purchase(unanswered[position] as number), {
          maxAttempts: RETRY_ATTEMPTS,
        }),
      );
      const finals = burstAnswers.slice();
      unanswered.forEach((index, position) => {
        finals[index] = retries[position]?.at(-1) as Answer;
      });
      const retryAnswers = retries.flat();

      // Every key ends in a 201, each naming a subscription of its own.
      expect(tally(finals).statuses).toEqual({ '201': PURCHASES });
      const ids = finals.map((answer) => (answer.body as SubscriptionBody).id);
      expect(new Set(ids).size).toBe(PURCHASES);

      // The database holds exactly those subscriptions, each with its one purchase event.
      const ledger = await readLedger(stack.db.pool);
      const rows = [...ledger.values()].filter((entry) => entry.userId === userId);
      expect(rows.map((entry) => entry.id).sort((a, b) => a - b)).toEqual(
        ids.slice().sort((a, b) => a - b),
      );
      expect(findLedgerInconsistencies(ledger)).toEqual([]);

      // A repeat of any completed purchase replays the stored answer and writes nothing.
      const repeats = await runConcurrently(PURCHASES, CONCURRENCY, purchase);
      const replayMismatches = repeats.flatMap((answer, index) =>
        answer.status === 201 &&
        answer.replayed &&
        JSON.stringify(answer.body) === JSON.stringify(finals[index]?.body)
          ? []
          : [{ key: keys[index], status: answer.status, replayed: answer.replayed }],
      );
      const rowsAfterRepeats = (await readLedger(stack.db.pool)).size;

      const firstSuccessAfterRestart = burstAnswers
        .concat(retryAnswers)
        .filter((answer) => isSuccess(answer) && answer.answeredAt >= restartedAt)
        .reduce((first, answer) => Math.min(first, answer.answeredAt), Number.POSITIVE_INFINITY);
      printFigures('consumer SIGKILL mid-burst', {
        keys: PURCHASES,
        requests: burstAnswers.length + retryAnswers.length + repeats.length,
        burst: tally(burstAnswers).statuses,
        burst_codes: tally(burstAnswers).codes,
        retried_keys: unanswered.length,
        retry_attempts: retryAnswers.length,
        retry_answers: tally(retryAnswers).statuses,
        retries_replayed: retryAnswers.filter((answer) => answer.replayed).length,
        rows: rows.length,
        duplicates: rows.length - new Set(ids).size,
        repeats_replayed: repeats.filter((answer) => answer.replayed).length,
        consumer_down_ms: Math.round(restartedAt - killedAt),
        restart_to_first_2xx_ms: Math.round(firstSuccessAfterRestart - restartedAt),
      });
      expect(replayMismatches).toEqual([]);
      expect(rowsAfterRepeats).toBe(PURCHASES);
    },
    60_000,
  );
});
