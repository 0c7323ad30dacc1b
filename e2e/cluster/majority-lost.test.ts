import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type ClusterStage,
  createClusterStage,
  RPC_TIMEOUT_MS,
  reviewFailover,
  runFailover,
  waitUntilOnline,
} from '../../test-support/cluster/failover';

/** Node 3 is left alone: with pause_minority it pauses, so no node serves the queues. */
const LOST_NODES = [1, 2] as const;
const DOWN_FOR_MS = 10_000;
/** An answer may take the RPC deadline plus a little for the HTTP round trip on busy cores. */
const ANSWER_WITHIN_MS = RPC_TIMEOUT_MS + 2_000;

describe('when two of the three nodes are lost under load', () => {
  let stage: ClusterStage;

  beforeAll(async () => {
    stage = await createClusterStage();
  });

  afterAll(async () => {
    await stage?.release();
  });

  it(
    'requests answer 503 or 504 within the deadline and /readyz 503 while the majority is ' +
      'gone, then the service heals by itself with every key applied exactly once',
    async () => {
      let lostAt = Number.NaN;
      let backAt = Number.NaN;
      const run = await runFailover(stage, {
        scenario: 'cluster: majority lost (node1 and node2 killed)',
        fault: async ({ cluster }) => {
          await Promise.all(LOST_NODES.map((node) => cluster.kill(node)));
          lostAt = performance.now();
          await sleep(DOWN_FOR_MS);
          backAt = performance.now();
          await Promise.all(LOST_NODES.map((node) => cluster.start(node)));
          await waitUntilOnline(cluster, [1, 2, 3], 120_000);
          return [...LOST_NODES];
        },
      });
      const { figures, problems } = await reviewFailover(stage, run);
      expect(problems).toEqual([]);
      // Never a hang: every attempt got its answer within the deadline.
      expect(figures.slowestAttemptMs).toBeLessThanOrEqual(ANSWER_WITHIN_MS);
      // Refused while the majority was gone (answers to requests sent well into the outage)...
      const duringOutage = run.requests
        .flatMap((request) => request.attempts)
        .filter((answer) => answer.sentAt >= lostAt + 2_000 && answer.sentAt < backAt);
      expect(duringOutage.length).toBeGreaterThan(0);
      expect(duringOutage.filter((answer) => answer.status < 500)).toEqual([]);
      // ...and both producers said they were not ready.
      for (const producer of [0, 1]) {
        const notReady = run.readyProbes.filter(
          (probe) => probe.producer === producer && probe.at < backAt && probe.status === 503,
        );
        expect(notReady.length).toBeGreaterThan(0);
      }
      // Healed by itself: 2xx again after the nodes returned, from the same processes.
      expect(Number.isFinite(figures.firstSuccessAfterFaultMs)).toBe(true);
    },
  );
});
