import { TimeProvider } from '../time/time-provider.js';

/** One piece of running work that a graceful stop waits for. */
export interface RunningWork {
  name: string;
  settled: Promise<unknown>;
}

/**
 * Waits for all `work` together (one budget for all, not one per item) until `timeoutMs`;
 * returns the names of what had not settled by then.
 */
export async function awaitWithDeadline(work: RunningWork[], timeoutMs: number): Promise<string[]> {
  const pending = new Set(work.map((w) => w.name));
  const all = Promise.all(work.map((w) => w.settled.then(() => pending.delete(w.name), () => pending.delete(w.name))));
  let clear = () => {};
  // On the system clock, whatever the host's TimeProvider: app.close() in a test on virtual time
  // must not wait for someone to advance it. A long timer: above 2^31−1 ms must not fire after 1 ms.
  const deadline = new Promise<void>((resolve) => (clear = TimeProvider.system.setTimeout(resolve, timeoutMs).clear));
  await Promise.race([all, deadline]);
  clear();
  return [...pending];
}
