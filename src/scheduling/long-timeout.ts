import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';

/** A cancellable timer that, unlike `setTimeout`, accepts delays above 2^31−1 ms. */
export interface LongTimeout {
  clear(this: void): void;
}

/**
 * Calls `callback` once, `delayMs` from now. Node fires a `setTimeout` above 2^31−1 ms after 1 ms
 * (with a TimeoutOverflowWarning), so long delays are reached through a chain of shorter timers.
 */
export function setLongTimeout(callback: () => void, delayMs: number): LongTimeout {
  const dueAt = Date.now() + delayMs;
  let handle: NodeJS.Timeout;
  const arm = (remaining: number) => {
    handle = setTimeout(() => {
      const left = dueAt - Date.now();
      if (left > 0) arm(left);
      else callback();
    }, Math.min(Math.max(remaining, 0), MAX_TIMER_DELAY_MS));
  };
  arm(delayMs);
  return { clear: () => clearTimeout(handle) };
}
