import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import dotenv from 'dotenv';
import { createCleanup } from '../../test-support/cleanup';
import { parseOptions } from './options';
import { startSpawnedStack } from './spawned-stack';

/** Requests per round, and rounds: a leak shows as growth from one round to the next. */
const REQUESTS_PER_ROUND = 20_000;
const ROUNDS = 5;
/** How often the producer's heap is read during a round. */
const HEAP_SAMPLE_MS = 250;
/** Enough connections that the requests waiting out their deadline keep the producer busy. */
const CONNECTIONS = 1_000;
const RPC_TIMEOUT_MS = 2_000;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Sends `amount` purchases and resolves with the count of each status. */
function fire(baseUrl: string, amount: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${baseUrl}/api/v1/subscriptions`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: 1 }),
        connections: CONNECTIONS,
        amount,
        timeout: 30,
      },
      // autocannon calls back with an Error or null (its types say `any`).
      (error: Error | null, result) => {
        if (error) reject(error);
        else resolve(result.statusCodeStats as unknown as Record<string, number>);
      },
    );
  });
}

/** A process's resident set size in bytes, from /proc; NaN once it is gone. */
async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

async function readMetric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/**
 * The lowest heap in use seen while `work` runs. Under load the young generation fills and
 * empties many times a second; the low points are what survives collection, and they climb
 * round after round only if something is kept that should not be.
 */
async function heapTroughDuring(baseUrl: string, work: Promise<unknown>): Promise<number> {
  let trough = Number.POSITIVE_INFINITY;
  let done = false;
  void work.finally(() => {
    done = true;
  });
  while (!done) {
    const used = await readMetric(baseUrl, 'nodejs_heap_size_used_bytes');
    if (Number.isFinite(used)) trough = Math.min(trough, used);
    await new Promise((resolve) => setTimeout(resolve, HEAP_SAMPLE_MS));
  }
  return trough;
}

/**
 * With the consumer stopped, every command waits for a reply that never comes. The producer
 * must answer each with a 504 at its deadline and forget it: its memory after each round of
 * 20,000 requests stays where it was, however many went by.
 */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  // The same MySQL and RabbitMQ settings as `npm run bench`; its load options do not apply.
  const options = parseOptions([], process.env);
  if (!options) return;
  const cleanup = createCleanup();
  const interrupt = () => void cleanup.releaseAll().then(() => process.exit(130));
  process.once('SIGINT', interrupt);
  try {
    const stack = await startSpawnedStack(
      {
        mysql: options.mysql,
        amqpUrl: options.amqpUrl,
        managementUrl: options.managementUrl,
        users: 1,
        consumerSettings: {},
        producerSettings: { RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS), LOG_LEVEL: 'error' },
      },
      cleanup,
    );
    // The consumer has declared the queues; without it, commands are accepted and never answered.
    await stack.stopConsumer();
    const rss = () => residentBytes(stack.producerPid);

    await fire(stack.baseUrl, 2_000);
    const start = await rss();
    console.log(`producer after warm-up: ${mib(start)}`);
    let peak = start;
    const sampler = setInterval(() => {
      void rss().then((value) => {
        peak = Math.max(peak, value);
      });
    }, 200);
    const after: number[] = [];
    const troughs: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const firing = fire(stack.baseUrl, REQUESTS_PER_ROUND);
      troughs.push(await heapTroughDuring(stack.baseUrl, firing));
      const statuses = await firing;
      // Let the last deadlines pass, then read what is still held.
      await new Promise((resolve) => setTimeout(resolve, RPC_TIMEOUT_MS + 500));
      after.push(await rss());
      const pending = await readMetric(stack.baseUrl, 'subscriptions_rpc_pending_calls');
      console.log(
        `round ${round}: ${REQUESTS_PER_ROUND} requests, statuses ${JSON.stringify(statuses)}, ` +
          `pending calls ${pending}, heap low point ${mib(troughs.at(-1) ?? 0)}, ` +
          `RSS after ${mib(after.at(-1) ?? 0)}`,
      );
    }
    clearInterval(sampler);
    // Round 1 takes the heap to its working size; a leak would keep growing after it.
    const change = (values: number[]) => {
      const delta = (values.at(-1) ?? 0) - (values[1] ?? 0);
      return `${delta >= 0 ? '+' : ''}${mib(delta)} (${((delta / (values[1] ?? 1)) * 100).toFixed(1)}%)`;
    };
    console.log(
      `peak RSS ${mib(peak)}; from round 2 to round ${ROUNDS}: heap low point ${change(troughs)}, ` +
        `RSS ${change(after)}`,
    );
  } finally {
    const failures = await cleanup.releaseAll();
    for (const failure of failures) console.error(`cleanup: ${failure}`);
  }
}

main().catch((error: unknown) => {
  console.error(`bench:memory: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
