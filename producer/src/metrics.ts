import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets, in seconds, from a fast local reply to the longest RPC deadline. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ProducerMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  rpcDuration: Histogram<'command' | 'outcome'>;
  idempotentReplays: Counter<'command'>;
  tokenVerifications: Counter<'outcome' | 'reason' | 'kind'>;
  keySetFetches: Counter<'result'>;
}

/**
 * A registry of its own (not the global one), so tests can build as many apps as they like.
 * Ours carry the `subscriptions_` prefix; Node's default process metrics keep their standard
 * names, which stock dashboards expect (the scrape's `job` label tells the processes apart).
 */
export function createProducerMetrics(options: {
  pendingCalls: () => number;
  /** Commands published again after a nack, counted by the RPC client. */
  republishedCalls?: () => number;
}): ProducerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'subscriptions_rpc_pending_calls',
    help: 'Commands published and still waiting for their reply',
    registers: [registry],
    collect() {
      this.set(options.pendingCalls());
    },
  });
  new Counter({
    name: 'subscriptions_rpc_republished_total',
    help: 'Commands published again on a new channel after the broker nacked them',
    registers: [registry],
    collect() {
      // The client keeps the running total; the counter mirrors it at each scrape.
      this.reset();
      this.inc(options.republishedCalls?.() ?? 0);
    },
  });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'subscriptions_http_request_duration_seconds',
      help: 'HTTP requests by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: 'subscriptions_rpc_duration_seconds',
      help: 'Time from publishing a command to its outcome (a reply code, or the failure code)',
      labelNames: ['command', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    idempotentReplays: new Counter({
      name: 'subscriptions_idempotent_replays_total',
      help: 'Answers replayed from an earlier request with the same Idempotency-Key',
      labelNames: ['command'],
      registers: [registry],
    }),
    tokenVerifications: new Counter({
      name: 'subscriptions_auth_verifications_total',
      help: 'Bearer tokens checked, by outcome (accepted, refused, unavailable), reason and kind of key (secret, provider, none)',
      labelNames: ['outcome', 'reason', 'kind'],
      registers: [registry],
    }),
    keySetFetches: new Counter({
      name: 'subscriptions_auth_key_set_fetches_total',
      help: "Fetches of the identity provider's key set (discovery included), by result",
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
