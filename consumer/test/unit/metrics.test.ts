import { describe, expect, it } from '@jest/globals';
import { createConsumerMetrics } from '../../src/metrics';

describe('consumer metrics', () => {
  it("names each of its own metrics with the subscriptions_ prefix, Node's defaults keeping theirs", async () => {
    const { registry } = createConsumerMetrics();
    const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name);
    const ours = names.filter((name) => !/^(process|nodejs)_/.test(name));
    expect(ours.sort()).toEqual([
      'subscriptions_batch_commands',
      'subscriptions_batch_duration_seconds',
      'subscriptions_command_duration_seconds',
      'subscriptions_command_retries_total',
      'subscriptions_commands_dead_lettered_total',
      'subscriptions_commands_expired_total',
      'subscriptions_commands_processed_total',
      'subscriptions_event_publish_delay_seconds',
      'subscriptions_event_relay_leader',
      'subscriptions_events_published_total',
    ]);
    expect(names).toContain('process_resident_memory_bytes');
  });

  it('counts each retried transient database failure under its command', async () => {
    const metrics = createConsumerMetrics();
    metrics.retried('cancel');
    metrics.retried('cancel');
    expect(await metrics.registry.metrics()).toMatch(
      /^subscriptions_command_retries_total\{command="cancel"\} 2$/m,
    );
  });
});
