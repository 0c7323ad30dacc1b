import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildService } from './child-service';

const START_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 100;

/** Resolves once `url` answers 200; fails when the service exits first or takes too long. */
export async function waitUntilReady(service: ChildService, url: string): Promise<void> {
  let exit: string | undefined;
  void service.exited.then((how) => (exit = how));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      throw new Error(`${service.name} exited (${exit}) before it was ready\n${service.tail()}`);
    }
    if (await answersOk(url)) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(
    `${service.name} was not ready at ${url} within ${START_TIMEOUT_MS} ms\n${service.tail()}`,
  );
}

export async function answersOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
