import type { EventOutbox } from '@subscriptions/store';
import type { Logger } from 'pino';
import type { EventPublisher } from './event-publisher';

export interface EventRelay {
  /** A transaction committed here: look for its events now rather than at the next poll. */
  wake(): void;
  /** Whether this process is the relay of its database right now. */
  isLeading(): boolean;
  /** Stops after the pass under way and gives the lead up. */
  stop(): Promise<void>;
}

export interface RelayMetrics {
  /** Events confirmed by the broker, with seconds from each change's time to its confirm. */
  published(delaysSeconds: readonly number[]): void;
  leading(leading: boolean): void;
}

export interface RelaySettings {
  /** How often to look for events committed by other consumers while idle. */
  pollMs: number;
  /** How often a process that is not the relay tries to become it. */
  leadRetryMs: number;
  /** Most events published (and confirmed) at a time. */
  batchSize: number;
  /** Wait after a failure (broker or database away) before trying again. */
  retryMs: number;
  /**
   * How often the position is written while events keep coming (and at once when they stop):
   * a write per batch would be a commit, and an fsync, per batch. A relay that dies publishes
   * again at most this much of the past, with the same ids.
   */
  recordEveryMs: number;
}

const DEFAULT_RELAY_SETTINGS: RelaySettings = {
  pollMs: 25,
  leadRetryMs: 1_000,
  batchSize: 500,
  retryMs: 500,
  recordEveryMs: 250,
};

/**
 * Publishes the history as events: one relay per database at a time (the outbox's lock), in id
 * order, which is commit order (events become visible in id order), so the events of a
 * subscription go out in the order its changes committed. It publishes a batch, waits for the
 * broker's confirms, then records its new position; a relay that dies between the two is
 * followed by one that publishes the batch again, with the same ids (at least once). While the
 * broker or the database is away it holds on and goes on from its position when they return.
 */
export function startEventRelay(deps: {
  outbox: EventOutbox;
  publisher: Pick<EventPublisher, 'isReady' | 'publish'>;
  logger: Logger;
  metrics?: RelayMetrics;
  settings?: Partial<RelaySettings>;
  now?: () => number;
}): EventRelay {
  const { outbox, publisher, logger, now = Date.now } = deps;
  const settings = { ...DEFAULT_RELAY_SETTINGS, ...deps.settings };
  const metrics = deps.metrics ?? { published: () => undefined, leading: () => undefined };
  let stopping = false;
  let leading = false;
  /** What the broker has confirmed, and what the database says (they differ between records). */
  let position = 0;
  let recorded = 0;
  let recordedAt = 0;
  let woken = false;
  let wakeUp: (() => void) | undefined;

  /** Waits `ms`, or less if woken; a wake-up during a pass is kept for the next wait. */
  function pause(ms: number): Promise<void> {
    if (woken || stopping) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        woken = false;
        resolve();
      }
      wakeUp = done;
    });
  }

  function setLeading(value: boolean): void {
    if (leading === value) return;
    leading = value;
    metrics.leading(value);
    logger.info(value ? { position } : {}, value ? 'relaying events' : 'no longer relaying events');
  }

  /** One step: lead, or publish what is there; resolves how long to wait before the next. */
  async function step(): Promise<number> {
    if (!leading) {
      if (!(await outbox.lead())) return settings.leadRetryMs;
      position = await outbox.position();
      recorded = position;
      setLeading(true);
    }
    if (!publisher.isReady()) return settings.retryMs;
    const events = await outbox.readAfter(position, settings.batchSize);
    const last = events.at(-1);
    if (!last) {
      if (recorded < position) await record();
      return settings.pollMs;
    }
    await publisher.publish(events);
    const confirmedAt = now();
    position = last.position;
    metrics.published(events.map(({ event }) => (confirmedAt - Date.parse(event.time)) / 1000));
    if (confirmedAt - recordedAt >= settings.recordEveryMs) await record();
    // A full batch: more may be waiting.
    return events.length === settings.batchSize ? 0 : settings.pollMs;
  }

  async function record(): Promise<void> {
    const at = now();
    const stored = await outbox.advance(position, new Date(at));
    if (stored > position) {
      logger.info({ from: position, to: stored }, 'event relay: position moved on, events skipped');
      position = stored;
    }
    recorded = position;
    recordedAt = at;
  }

  const running = (async () => {
    while (!stopping) {
      let wait: number;
      try {
        wait = await step();
      } catch (error) {
        logger.warn({ err: error }, 'event relay: publishing held back, will retry');
        // A database failure took the lead with its connection: the next step takes it again,
        // and the position back from the database (events since may go out twice, with their
        // ids). A broker failure keeps it: the same events are published again.
        if (!outbox.isLeader()) setLeading(false);
        wait = settings.retryMs;
      }
      if (wait > 0) await pause(wait);
    }
    // A clean stop records what the broker confirmed, so its successor sends none of it again.
    if (outbox.isLeader() && recorded < position) {
      await record().catch((error: unknown) =>
        logger.warn({ err: error }, 'event relay: last position not recorded'),
      );
    }
    outbox.release();
    setLeading(false);
  })();

  return {
    wake() {
      // A process that is not the relay waits to lead, not for events.
      if (!leading) return;
      woken = true;
      wakeUp?.();
    },
    isLeading: () => leading,
    async stop() {
      stopping = true;
      wakeUp?.();
      await running;
    },
  };
}
