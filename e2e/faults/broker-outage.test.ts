import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Api, createApi, type SubscriptionBody } from '../../test-support/http/api';
import type { Producer, ServiceProcess } from '../../test-support/processes/services';
import {
  type Answer,
  isSuccess,
  printFigures,
  runPaced,
  sendPurchase,
  tally,
} from '../../test-support/http/load';
import { waitUntil } from '../../test-support/wait';
import {
  countByUser,
  createUsers,
  findLedgerInconsistencies,
  readLedger,
} from '../../test-support/outcomes/ledger';
import { createFaultStack, type FaultStack } from '../../test-support/faults/stack';

/** One purchase every INTERVAL_MS, each for a user of its own, so a doubled command shows. */
const PURCHASES = 480;
const INTERVAL_MS = 25;
const CUT_AFTER_MS = 2_000;
const CUT_FOR_MS = 4_000;
const RPC_TIMEOUT_MS = 10_000;
/**
 * When a wait for /readyz gives up: far above the reconnection's backoff (5 s at most), a bound on
 * a hang and no claim of speed, which the printed figures report.
 */
const GIVE_UP_MS = 30_000;

describe('when the link to RabbitMQ is cut for a few seconds under load', () => {
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
    // One more for a purchase sent once /readyz is 200 again.
    users = await createUsers(stack.db.pool, PURCHASES + 1, 'Broker Outage');
  });

  afterAll(async () => {
    await stack?.release();
  });

  it(
    'writes answer 503 or 504 and /readyz 503 while it is down, then 2xx again once it is back, ' +
      'from the same processes, with every 2xx committed once and no 503 applied',
    async () => {
      const exits: string[] = [];
      for (const service of [producer, consumer]) {
        void service.waitForExit().then(() => exits.push(service.name));
      }
      const probeReady = async () => (await api.send('GET', '/readyz')).status;
      expect(await probeReady()).toBe(200);

      const load = runPaced(PURCHASES, INTERVAL_MS, (index) =>
        sendPurchase(api, users[index] as number),
      );
      const outage = (async () => {
        await new Promise((resolve) => setTimeout(resolve, CUT_AFTER_MS));
        const cutAt = performance.now();
        stack.brokerProxy.sever();
        const link = { cut: true };
        const restored = new Promise<number>((resolve) =>
          setTimeout(() => {
            stack.brokerProxy.restore();
            link.cut = false;
            resolve(performance.now());
          }, CUT_FOR_MS),
        );
        // Only a probe sent while the link is cut can show that the cut was noticed.
        const notReady: { sentAt?: number } = {};
        await waitUntil(
          '/readyz to answer 503, or the link to be restored',
          async () => {
            const sentAt = performance.now();
            const sentWhileCut = link.cut;
            if ((await probeReady()) === 503 && sentWhileCut) notReady.sentAt = sentAt;
            return notReady.sentAt !== undefined || !link.cut;
          },
          CUT_FOR_MS + GIVE_UP_MS,
        );
        const restoredAt = await restored;
        await waitUntil(
          '/readyz to answer 200',
          async () => (await probeReady()) === 200,
          GIVE_UP_MS,
          100,
        );
        return { cutAt, restoredAt, notReady, readyAfterMs: performance.now() - restoredAt };
      })();
      const [paced, { cutAt, restoredAt, notReady, readyAfterMs }] = await Promise.all([
        load,
        outage,
      ]);
      // Ready again means writable again: a purchase sent now succeeds, however long that took.
      const answers = [...paced, await sendPurchase(api, users[PURCHASES] as number)];

      const firstSuccessAfterRestore = answers
        .filter((answer) => isSuccess(answer) && answer.answeredAt >= restoredAt)
        .reduce((first, answer) => Math.min(first, answer.answeredAt), Number.POSITIVE_INFINITY);
      const recoveryMs = firstSuccessAfterRestore - restoredAt;
      const failures = answers.filter((answer) => !isSuccess(answer));
      const ledger = await readLedger(stack.db.pool);
      const perUser = countByUser(ledger);
      const rowsOf = (index: number) => perUser.get(users[index] as number) ?? 0;
      const outcomes = answers.map((answer, index) => ({ answer, rows: rowsOf(index) }));
      const landed = (status: number) =>
        outcomes.filter(({ answer, rows }) => answer.status === status && rows > 0).length;
      const reconnects = (service: ServiceProcess, message: string) =>
        service.logLines().filter((line) => line.msg === message).length - 1;
      printFigures('broker link cut', {
        sent: answers.length,
        statuses: tally(answers).statuses,
        codes: tally(answers).codes,
        cut_ms: Math.round(restoredAt - cutAt),
        readyz_503_after_cut_ms: Math.round((notReady.sentAt ?? Number.NaN) - cutAt),
        readyz_200_after_restore_ms: Math.round(readyAfterMs),
        recovery_restore_to_first_2xx_ms: Math.round(recoveryMs),
        rows: ledger.size,
        duplicates: [...perUser.values()].filter((count) => count > 1).length,
        unknown_504_that_landed: landed(504),
        refused_503_that_landed: landed(503),
        producer_reconnects: reconnects(producer, 'broker connected'),
        consumer_reconnects: reconnects(consumer, 'consuming commands'),
      });

      // The outage was seen, and answered with the contract's codes only.
      expect(failures.length).toBeGreaterThan(0);
      for (const { status, code } of failures) {
        expect({ status, code }).toEqual(
          status === 503
            ? {
                status,
                code: expect.stringMatching(/^(broker_unavailable|command_not_confirmed)$/),
              }
            : { status: 504, code: expect.stringMatching(/^(reply_timeout|reply_lost)$/) },
        );
      }
      for (const answer of failures) {
        expect(answer.sentAt).toBeGreaterThanOrEqual(cutAt - 1_000);
      }
      // Back once restored (the last purchase, sent after /readyz 200, at the latest), and every
      // request sent after the first success succeeded.
      expect(answers.at(-1)?.status).toBe(201);
      const lateFailures = failures.filter((answer) => answer.sentAt > firstSuccessAfterRestore);
      expect(lateFailures).toEqual([]);
      // The cut was noticed while it lasted.
      expect(notReady.sentAt).toBeDefined();
      // Recovered in place: neither process exited, both reconnected.
      expect(exits).toEqual([]);
      expect(reconnects(producer, 'broker connected')).toBeGreaterThanOrEqual(1);
      expect(reconnects(consumer, 'consuming commands')).toBeGreaterThanOrEqual(1);

      // Every 201 is its user's one row; a 503 was not accepted, so it wrote nothing.
      const wrong = outcomes.flatMap(({ answer, rows }, index) => {
        const userId = users[index] as number;
        if (answer.status === 201) {
          const entry = ledger.get((answer.body as SubscriptionBody).id);
          return rows === 1 && entry?.userId === userId
            ? []
            : [{ userId, ...summary(answer), rows }];
        }
        if (answer.status === 503) return rows === 0 ? [] : [{ userId, ...summary(answer), rows }];
        return rows <= 1 ? [] : [{ userId, ...summary(answer), rows }];
      });
      expect(wrong).toEqual([]);
      expect(findLedgerInconsistencies(ledger)).toEqual([]);
    },
    60_000,
  );
});

function summary(answer: Answer): { status: number; code: string | undefined } {
  return { status: answer.status, code: answer.code };
}
