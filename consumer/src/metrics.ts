import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RelayMetrics } from './events/event-relay';

const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the command listener reports; `createConsumerMetrics` backs it with Prometheus. */
export interface ListenerMetrics {
  /** A command answered: `outcome` is `applied`, `replayed` or the refusal's code. */
  processed(command: string, outcome: string, seconds: number): void;
  /** A command parked in the dead-letter queue: `poison` (unreadable) or `error` (a bug). */
  deadLettered(queue: string, reason: 'poison' | 'error'): void;
  /** A command dropped unapplied because its deadline had passed. */
  expired(queue: string): void;
  /** A transient database failure that the listener retries. */
  retried(command: string): void;
  /** A batch settled: how many commands it held and how long they took, retries included. */
  batch(commands: number, seconds: number): void;
}

export interface ConsumerMetrics extends ListenerMetrics {
  registry: Registry;
  relay: RelayMetrics;
}

/**
 * Ours carry the `subscriptions_` prefix; Node's default process metrics keep their standard
 * names, which stock dashboards expect (the scrape's `job` label tells the processes apart).
 */
export function createConsumerMetrics(): ConsumerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const processed = new Counter({
    name: 'subscriptions_commands_processed_total',
    help: 'Commands answered, by command and outcome (applied, replayed or the refusal code)',
    labelNames: ['command', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'subscriptions_command_duration_seconds',
    help: 'Time from delivery to reply, including retries',
    labelNames: ['command'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const deadLettered = new Counter({
    name: 'subscriptions_commands_dead_lettered_total',
    help: 'Commands sent to the dead-letter queue, by queue and reason',
    labelNames: ['queue', 'reason'],
    registers: [registry],
  });
  const expired = new Counter({
    name: 'subscriptions_commands_expired_total',
    help: 'Commands dropped unapplied because their deadline had passed',
    labelNames: ['queue'],
    registers: [registry],
  });
  const retried = new Counter({
    name: 'subscriptions_command_retries_total',
    help: 'Transient database failures (lost connection, deadlock, lock wait) retried, by command',
    labelNames: ['command'],
    registers: [registry],
  });
  const batchCommands = new Histogram({
    name: 'subscriptions_batch_commands',
    help: 'Commands applied together in one transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const batchDuration = new Histogram({
    name: 'subscriptions_batch_duration_seconds',
    help: "Time from a batch's start to its commit (or its commands' settling), retries included",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const eventsPublished = new Counter({
    name: 'subscriptions_events_published_total',
    help: 'Events published to SUBSCRIPTIONS.EVENTS and confirmed by the broker',
    registers: [registry],
  });
  const publishDelay = new Histogram({
    name: 'subscriptions_event_publish_delay_seconds',
    help: "Time from a change's event time (taken as its transaction begins) to the broker's confirm",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const leading = new Gauge({
    name: 'subscriptions_event_relay_leader',
    help: "1 while this consumer is its database's event relay (one at a time)",
    registers: [registry],
  });
  return {
    registry,
    relay: {
      published(delays) {
        eventsPublished.inc(delays.length);
        for (const delay of delays) publishDelay.observe(delay);
      },
      leading: (value) => leading.set(value ? 1 : 0),
    },
    processed(command, outcome, seconds) {
      processed.inc({ command, outcome });
      duration.observe({ command }, seconds);
    },
    deadLettered: (queue, reason) => deadLettered.inc({ queue, reason }),
    expired: (queue) => expired.inc({ queue }),
    retried: (command) => retried.inc({ command }),
    batch(commands, seconds) {
      batchCommands.observe(commands);
      batchDuration.observe(seconds);
    },
  };
}
