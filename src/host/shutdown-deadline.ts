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
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([all, deadline]);
  clearTimeout(timer);
  return [...pending];
}
