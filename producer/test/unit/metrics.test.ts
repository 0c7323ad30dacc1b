import { describe, expect, it } from '@jest/globals';
import { createProducerMetrics } from '../../src/metrics';

describe('producer metrics', () => {
  it("names each of its own metrics with the subscriptions_ prefix, Node's defaults keeping theirs", async () => {
    const { registry } = createProducerMetrics({ pendingCalls: () => 0 });
    const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name);
    const ours = names.filter((name) => !/^(process|nodejs)_/.test(name));
    expect(ours.sort()).toEqual([
      'subscriptions_auth_key_set_fetches_total',
      'subscriptions_auth_verifications_total',
      'subscriptions_http_request_duration_seconds',
      'subscriptions_idempotent_replays_total',
      'subscriptions_rpc_duration_seconds',
      'subscriptions_rpc_pending_calls',
      'subscriptions_rpc_republished_total',
    ]);
    expect(names).toContain('process_resident_memory_bytes');
  });

  it('reports the re-publishes the RPC client counted', async () => {
    let republished = 2;
    const { registry } = createProducerMetrics({
      pendingCalls: () => 0,
      republishedCalls: () => republished,
    });
    expect(await registry.metrics()).toContain('subscriptions_rpc_republished_total 2');
    republished = 5;
    expect(await registry.metrics()).toContain('subscriptions_rpc_republished_total 5');
  });
});
