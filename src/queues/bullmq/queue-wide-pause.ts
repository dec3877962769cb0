import type { Queue } from 'bullmq';

/** How long after a pause's window its queue-wide limit is looked at again. */
const LIFT_MARGIN_MS = 100;

/**
 * A handler's `RateLimitedError` on a queue's workers (`BullMqStore.pauseAll`): BullMQ's fetch
 * checks the rate-limit key that `Queue.rateLimit` sets only under a limit, the worker's own or the
 * queue's (`Queue.setGlobalRateLimit`, in the queue meta that every fetch of every process reads in
 * the same statement or script). For workers without a limiter of their own, a queue-wide limit of
 * `max` (no limit in practice) is set first, before the window, so that no fetch slips between the
 * two, and lifted after the window by the store's `lift` (which keeps it while another process's
 * later window holds): fetches pay for a limit only around a pause.
 */
export class QueueWidePause {
  private liftTimer?: NodeJS.Timeout;

  constructor(
    /** The queue-wide `max` a pause sets, which `lift` recognises as its own. */
    readonly max: number,
    private readonly lift: (queue: Queue) => Promise<void>,
  ) {}

  /** No worker of `queue` starts a job for `retryAfterMs` (`limited`: the workers have a limiter of their own). */
  async pause(queue: Queue, retryAfterMs: number, limited: boolean): Promise<void> {
    if (!limited) await queue.setGlobalRateLimit(this.max, 1_000);
    await queue.rateLimit(retryAfterMs);
    if (limited) return;
    clearTimeout(this.liftTimer);
    this.liftTimer = setTimeout(() => void this.lift(queue), retryAfterMs + LIFT_MARGIN_MS);
    this.liftTimer.unref();
  }

  /** Drops a pending lift (the store closes). */
  dispose(): void {
    clearTimeout(this.liftTimer);
  }
}
