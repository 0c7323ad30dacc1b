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

const DOWN_FOR_MS = 10_000;
const MAX_GAP_MS = 5_000;

describe('when the node leading the command queues is killed under load', () => {
  let stage: ClusterStage;

  beforeAll(async () => {
    stage = await createClusterStage();
  });

  afterAll(async () => {
    await stage?.release();
  });

  it(
    'keeps answering 2xx within seconds, applies every key exactly once, and the node rejoins ' +
      'the queues when it comes back, with no process restarted',
    async () => {
      const leader = await commandQueueLeader(stage.cluster);
      const run = await runFailover(stage, {
        scenario: `cluster: SIGKILL of the queue leader node${leader}`,
        fault: async ({ cluster }) => {
          await cluster.kill(leader);
          await sleep(DOWN_FOR_MS);
          await cluster.start(leader);
          await waitUntilOnline(cluster, [leader]);
          return [leader];
        },
      });
      const { figures, problems } = await reviewFailover(stage, run);
      expect(problems).toEqual([]);
      expect(figures.longestGapMs).toBeLessThanOrEqual(MAX_GAP_MS);
    },
  );
});
