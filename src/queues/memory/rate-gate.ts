import type { QueueRateLimit } from '../../interfaces/queue-options.interface.js';
import type { TimeProvider, TimerHandle } from '../../time/time-provider.js';

/**
 * When the memory backend's lanes may start a try: the worker's `limiter` (at most `max` starts in
 * a fixed window of `durationMs`, the window opening at its first start, as BullMQ's does) and the
 * pause a handler asked for with `RateLimitedError`. Instants are on the monotonic clock of the
 * host's `TimeProvider`; lanes that find the gate closed wait on one shared timer, no polling.
 */
export class RateGate {
  private windowEnd = 0;
  private startedInWindow = 0;
  /** Until when `RateLimitedError` stopped deliveries (monotonic; 0: never). */
  private pausedUntil = 0;
  private opening?: { at: number; promise: Promise<void>; resolve: () => void; timer: TimerHandle };

  constructor(
    private readonly time: TimeProvider,
    private readonly limit: QueueRateLimit | undefined,
  ) {}

  /** The monotonic instant the next try may start at, or 0 when one may start now. */
  closedUntil(): number {
    let until = 0;
    let now: number | undefined;
    if (this.pausedUntil !== 0) {
      now = this.time.monotonic();
      if (this.pausedUntil > now) until = this.pausedUntil;
      else this.pausedUntil = 0;
    }
    const limit = this.limit;
    if (limit !== undefined && this.startedInWindow >= limit.max) {
      now ??= this.time.monotonic();
      if (now < this.windowEnd && this.windowEnd > until) until = this.windowEnd;
    }
    return until;
  }

  /** A try started: counted in the current window (a new window opens with the first start after the last one ended). */
  started(): void {
    const limit = this.limit;
    if (limit === undefined) return;
    const now = this.time.monotonic();
    if (now >= this.windowEnd) {
      this.windowEnd = now + limit.durationMs;
      this.startedInWindow = 0;
    }
    this.startedInWindow++;
  }

  /** No try starts for `ms` (a handler threw `RateLimitedError`); returns the epoch instant it ends. */
  pauseFor(ms: number): number {
    const until = this.time.monotonic() + ms;
    if (until > this.pausedUntil) this.pausedUntil = until;
    return this.time.now() + ms;
  }

  /** The epoch instant the gate opens while it is closed (for status), else undefined. */
  closedUntilEpoch(): number | undefined {
    const until = this.closedUntil();
    return until === 0 ? undefined : this.time.now() + (until - this.time.monotonic());
  }

  /**
   * Resolves when the gate opens (at `until`, from `closedUntil`), or when `wake` aborts (the
   * deadline, or another reason to look again). All lanes share one timer per opening instant.
   */
  wait(until: number, wake: AbortSignal): Promise<void> {
    let opening = this.opening;
    if (opening === undefined || opening.at !== until) {
      opening?.timer.clear();
      opening?.resolve();
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      const timer = this.time.setTimeout(
        () => {
          if (this.opening === opening) this.opening = undefined;
          resolve();
        },
        Math.max(0, until - this.time.monotonic()),
      );
      opening = this.opening = { at: until, promise, resolve, timer };
    }
    if (wake.aborted) return Promise.resolve();
    const { promise } = opening;
    return new Promise<void>((resolve) => {
      const onWake = () => resolve();
      wake.addEventListener('abort', onWake, { once: true });
      void promise.then(() => {
        wake.removeEventListener('abort', onWake);
        resolve();
      });
    });
  }

  /** Clears the timer (at the deadline): nothing waits on it any more. */
  dispose(): void {
    const opening = this.opening;
    this.opening = undefined;
    opening?.timer.clear();
    opening?.resolve();
  }
}
