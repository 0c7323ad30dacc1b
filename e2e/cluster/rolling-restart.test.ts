import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type ClusterStage,
  createClusterStage,
  reviewFailover,
  runFailover,
  waitUntilOnline,
} from '../../test-support/cluster/failover';

const MAX_GAP_MS = 5_000;

describe('when the nodes are restarted one after the other under load', () => {
  let stage: ClusterStage;

  beforeAll(async () => {
    stage = await createClusterStage();
  });

  afterAll(async () => {
    await stage?.release();
  });

  it(
    'keeps answering 2xx within seconds throughout, applies every key exactly once, and ' +
      'every node is back among the queue members',
    async () => {
      const run = await runFailover(stage, {
        scenario: 'cluster: rolling restart of node1, node2, node3',
        fault: async ({ cluster }) => {
          for (const node of [1, 2, 3] as const) {
            await cluster.stop(node);
            await cluster.start(node);
            // The next one goes down only once this one holds its queue replicas again.
            await waitUntilOnline(cluster, [node]);
          }
          return [1, 2, 3];
        },
        cooldownMs: 4_000,
      });
      const { figures, problems } = await reviewFailover(stage, run);
      expect(problems).toEqual([]);
      expect(figures.longestGapMs).toBeLessThanOrEqual(MAX_GAP_MS);
    },
  );
});
