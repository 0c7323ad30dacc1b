/**
 * A gate a test holds shut to stall something (a consumer's batches) and opens when it has
 * seen what it waited for. `pass()` resolves at once while open.
 */
export interface Gate {
  pass(): Promise<void>;
  /** Holds every later `pass()` until `open()`. */
  close(): void;
  /** Lets every held and later `pass()` through. */
  open(): void;
  /** How many `pass()` calls are being held right now. */
  readonly waiting: number;
}

export function createGate(): Gate {
  let held: (() => void)[] | undefined;
  return {
    pass() {
      if (!held) return Promise.resolve();
      const queue = held;
      return new Promise((resolve) => queue.push(resolve));
    },
    close() {
      held ??= [];
    },
    open() {
      const queue = held ?? [];
      held = undefined;
      for (const resolve of queue) resolve();
    },
    get waiting() {
      return held?.length ?? 0;
    },
  };
}
