import autocannon from 'autocannon';
import { createCleanup } from './cleanup';
import { procProbe } from './memory';
import dotenv from 'dotenv';
import { parseOptions } from './options';
import { startSpawnedStack } from './spawned-stack';

/** Requests per round, and rounds: a leak shows as growth from one round to the next. */
const REQUESTS_PER_ROUND = 20_000;
const ROUNDS = 3;
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
      (error: unknown, result) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result.statusCodeStats as unknown as Record<string, number>);
      },
    );
  });
}

async function pendingCalls(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(/^rpc_pending_calls (\d+)/m.exec(text)?.[1] ?? Number.NaN);
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
        users: 1,
        consumerSettings: {},
        producerSettings: { RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS), LOG_LEVEL: 'error' },
      },
      cleanup,
    );
    // The consumer has declared the queues; without it, commands are accepted and never answered.
    await stack.stopConsumer();
    const probe = procProbe('producer', stack.producerPid);
    const rss = async () => (await probe.read()) ?? Number.NaN;

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
    for (let round = 1; round <= ROUNDS; round += 1) {
      const statuses = await fire(stack.baseUrl, REQUESTS_PER_ROUND);
      // Let the last deadlines pass, then read what is still held.
      await new Promise((resolve) => setTimeout(resolve, RPC_TIMEOUT_MS + 500));
      after.push(await rss());
      console.log(
        `round ${round}: ${REQUESTS_PER_ROUND} requests, statuses ${JSON.stringify(statuses)}, ` +
          `pending calls ${await pendingCalls(stack.baseUrl)}, producer ${mib(after.at(-1) ?? 0)}`,
      );
    }
    clearInterval(sampler);
    // Round 1 takes the heap to its working size; a leak would keep growing after it.
    const growth = (after.at(-1) ?? 0) - (after[0] ?? 0);
    console.log(
      `peak ${mib(peak)}; from round 1 to round ${ROUNDS}: ${growth >= 0 ? '+' : ''}${mib(growth)} ` +
        `(${((growth / (after[0] ?? 1)) * 100).toFixed(1)}%)`,
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
