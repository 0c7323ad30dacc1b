import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type ClusterStage,
  commandQueueLeader,
  createClusterStage,
  reviewFailover,
  runFailover,
  waitUntilOnline,
} from '../../test-support/cluster/failover';

/** Both producers start on this node; the queues are led by another one. */
const PRODUCERS_NODE = 2;
const DOWN_FOR_MS = 10_000;
const MAX_GAP_MS = 5_000;

describe('when the node both producers are connected to is killed under load', () => {
  let stage: ClusterStage;

  beforeAll(async () => {
    stage = await createClusterStage({ producerNodes: [PRODUCERS_NODE, PRODUCERS_NODE] });
  });

  afterAll(async () => {
    await stage?.release();
  });

  it(
    'the producers go on to the next node on their lists within seconds, every key is applied ' +
      'exactly once, and the node rejoins the queues when it comes back',
    async () => {
      expect(await commandQueueLeader(stage.cluster)).not.toBe(PRODUCERS_NODE);
      const run = await runFailover(stage, {
        scenario: `cluster: SIGKILL of the producers' node${PRODUCERS_NODE}`,
        fault: async ({ cluster }) => {
          await cluster.kill(PRODUCERS_NODE);
          await sleep(DOWN_FOR_MS);
          await cluster.start(PRODUCERS_NODE);
          await waitUntilOnline(cluster, [PRODUCERS_NODE]);
          return [PRODUCERS_NODE];
        },
      });
      const { figures, problems } = await reviewFailover(stage, run);
      expect(problems).toEqual([]);
      expect(figures.longestGapMs).toBeLessThanOrEqual(MAX_GAP_MS);
      // Both producers lost their broker and reconnected in place.
      for (const producer of stage.producers) {
        const connects = producer.logLines().filter((line) => line.msg === 'broker connected');
        expect(connects.length).toBeGreaterThanOrEqual(2);
      }
    },
  );
});
