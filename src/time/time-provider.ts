import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { OneCopy } from '../one-copy.js';
import { OptionsValidator } from '../validation/options-validator.js';

/** A timer made by a `TimeProvider`: `clear()` cancels it (a no-op once it fired). */
export interface TimerHandle {
  clear(this: void): void;
}

/** Called when the wall clock moved against the monotonic clock (an NTP step, a VM restore, a resume from suspend). */
export type WallClockJumpListener = (jumpMs: number) => void;

/** Options of `TimeProvider.createSystem`. */
export interface SystemTimeOptions {
  /**
   * Compare the wall clock with the monotonic clock at least this often (ms) while anything listens
   * for jumps, so that a forward jump (a resume from suspend, a clock set forward) is noticed within
   * this time even when none of the host's timers fires. Each comparison wakes the process (about
   * 0.3–0.5 ms of CPU on an idle app). Unset: only when one of the provider's timers fires, as
   * `TimeProvider.system` does. 1 ms to 2^31−1 ms.
   */
  wallClockCheckMs?: number;
}

const SYSTEM_TIME_OPTIONS: readonly (keyof SystemTimeOptions)[] = ['wallClockCheckMs'];

/**
 * The host's one clock, as .NET's `TimeProvider`: every clock read and every timer of the host goes
 * through it (periodic slots, tick `timeoutMs`, jitter, restart backoff, queue retry backoff,
 * delayed tasks). The default is `TimeProvider.system`; tests swap in `VirtualTime` from
 * `nest-hosting/testing` (`HostingModule.forRoot({ timeProvider })`, or
 * `overrideProvider(TimeProvider).useValue(time)`), and work you write can inject it too, so that it
 * follows the same clock:
 *
 * @example
 * ```ts
 * constructor(private readonly time: TimeProvider) {}
 * async execute(signal: AbortSignal) {
 *   while (!signal.aborted) { await this.pump(); await this.time.delay(5_000, signal).catch(() => undefined); }
 * }
 * ```
 *
 * Two clocks: `now()` is the wall clock (epoch milliseconds; cron schedules and dates shown to
 * people), `monotonic()` never goes back and does not move when the wall clock is set
 * (interval grids, durations). Timers count on the monotonic clock.
 */
@OneCopy('TimeProvider')
export abstract class TimeProvider {
  /**
   * The system clock and Node's timers. It compares its two clocks whenever one of its timers
   * fires, and never wakes the process only for that (see `createSystem` for a bounded wait).
   */
  static get system(): TimeProvider {
    return systemTimeProvider;
  }

  /**
   * A system clock of its own, for `HostingModule.forRoot({ timeProvider })`. With
   * `wallClockCheckMs`, a wall-clock jump is noticed within that time even when no timer of the host
   * fires (an app whose only tasks are far away: a daily cron on a laptop that sleeps), at the cost
   * of one wake per period:
   *
   * @example
   * ```ts
   * HostingModule.forRoot({ timeProvider: TimeProvider.createSystem({ wallClockCheckMs: 60_000 }) })
   * ```
   */
  static createSystem(options?: SystemTimeOptions): TimeProvider {
    const check = OptionsValidator.for('TimeProvider.createSystem', options, SYSTEM_TIME_OPTIONS);
    return new SystemTimeProvider(check.duration('wallClockCheckMs', { positive: true, max: MAX_TIMER_DELAY_MS }));
  }

  /** Wall-clock time in epoch milliseconds (`Date.now()` on the system provider). */
  abstract now(): number;

  /** Milliseconds from an arbitrary origin, never going back (`performance.now()` on the system provider). */
  abstract monotonic(): number;

  /**
   * Calls `callback` once, `delayMs` (monotonic) milliseconds from now; any delay, including ones
   * above Node's 2^31−1 ms limit. A negative or zero delay fires on a later turn, never inline.
   */
  abstract setTimeout(callback: () => void, delayMs: number): TimerHandle;

  /**
   * Subscribes to wall-clock jumps larger than the provider's threshold. The system provider, while
   * anyone listens, compares its two clocks whenever one of its timers fires (and, made by
   * `createSystem({ wallClockCheckMs })`, at least that often), and reports moves above 1 s.
   * Returns the unsubscribe.
   */
  abstract onWallClockJump(listener: WallClockJumpListener): () => void;

  /**
   * @internal The wall-clock time of the monotonic clock's origin (`now() − monotonic()`), as
   * precisely as the provider knows it: a slot on the monotonic clock is placed on the wall clock
   * with it (`scheduledAt`), and interval grids are laid on its whole milliseconds so that
   * `scheduledAt` is the slot itself, not a rounding of it.
   */
  wallClockOffset(): number {
    return this.now() - this.monotonic();
  }

  /**
   * @internal How early the provider's timers may fire (ms): a timer due within this much of one that
   * fires is fired with it. Node's timers keep whole-millisecond time and fire up to a millisecond
   * before a `performance.now()` deadline; a virtual clock fires at the instant.
   */
  get timerSlackMs(): number {
    return 0;
  }

  /** The current wall-clock time as a `Date`. */
  date(): Date {
    return new Date(this.now());
  }

  /**
   * Resolves `ms` milliseconds from now on this clock; rejects with `signal.reason` when `signal`
   * aborts first (or already has). For waits in your own background services.
   */
  delay(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        timer.clear();
        reject(signal!.reason);
      };
      const timer = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * @internal The host registers how to see its in-flight work (a promise of the work running now,
   * or undefined when there is none), so that a virtual clock can await what it fired. The system clock ignores it.
   */
  trackIdle(_busyWork: () => Promise<unknown> | undefined): () => void {
    return noop;
  }
}

const noop = (): void => undefined;

/**
 * The monotonic instant nearest to `monotonicMs` that falls on a whole millisecond of the wall
 * clock (by `time.wallClockOffset()`): an interval grid laid from it has slots whose `scheduledAt`
 * is exact.
 */
export function onWholeWallMs(time: TimeProvider, monotonicMs: number): number {
  const offset = time.wallClockOffset();
  return Math.round(monotonicMs + offset) - offset;
}

/**
 * Marks a timer callback as a watchdog (a tick's `timeoutMs`): armed beside running work, not
 * something that work waits for, so a virtual clock does not read it as "the work waits on time".
 */
export const WATCHDOG = Symbol.for('nest-hosting:watchdog');

/** `callback`, marked as a watchdog. */
export function watchdog<F extends () => void>(callback: F): F {
  return Object.assign(callback, { [WATCHDOG]: true });
}

/** Moves of the wall clock against the monotonic clock up to this are not jumps (NTP slews, rounding). */
const JUMP_THRESHOLD_MS = 1_000;

/** The system clock: `Date.now()`, `performance.now()` and Node's timers. */
class SystemTimeProvider extends TimeProvider {
  private readonly listeners = new Set<WallClockJumpListener>();
  private watch?: NodeJS.Timeout;
  private offset = 0;
  /**
   * The wall-clock time of `performance.now()`'s origin to a fraction of a millisecond: Node's
   * `performance.timeOrigin` at first, moved only as far as `Date.now()` (whole milliseconds) proves
   * it wrong, so it follows the clock being slewed or set without taking on `Date.now()`'s rounding.
   */
  private origin = performance.timeOrigin;

  /** `checkEveryMs`: the longest it goes without comparing its clocks while someone listens; unset, only on its timers' fires. */
  constructor(private readonly checkEveryMs?: number) {
    super();
  }

  now(): number {
    return Date.now();
  }

  override get timerSlackMs(): number {
    return 1;
  }

  monotonic(): number {
    return performance.now();
  }

  override wallClockOffset(): number {
    // Date.now() is the wall clock rounded down: the true offset lies in [coarse, coarse + 1).
    const coarse = Date.now() - performance.now();
    if (this.origin < coarse) this.origin = coarse;
    else if (this.origin >= coarse + 1) this.origin = coarse + 1;
    return this.origin;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    if (this.listeners.size > 0) {
      // Someone listens for jumps: each timer that fires is also a look at the clocks, for free.
      const fire = callback;
      callback = () => {
        this.check();
        fire();
      };
    }
    if (delayMs <= MAX_TIMER_DELAY_MS) {
      const handle = setTimeout(callback, delayMs);
      return { clear: () => clearTimeout(handle) };
    }
    // Node fires a timeout above 2^31−1 ms after 1 ms: longer delays are reached through a chain.
    const dueAt = performance.now() + delayMs;
    let handle: NodeJS.Timeout;
    const arm = (remaining: number) => {
      handle = setTimeout(
        () => {
          const left = dueAt - performance.now();
          if (left > 0) arm(left);
          else callback();
        },
        Math.min(Math.max(remaining, 0), MAX_TIMER_DELAY_MS),
      );
    };
    arm(delayMs);
    return { clear: () => clearTimeout(handle) };
  }

  onWallClockJump(listener: WallClockJumpListener): () => void {
    if (this.listeners.size === 0) {
      this.offset = Date.now() - performance.now();
      if (this.checkEveryMs !== undefined) {
        this.watch = setInterval(() => this.check(), this.checkEveryMs);
        this.watch.unref();
      }
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.watch) {
        clearInterval(this.watch);
        this.watch = undefined;
      }
    };
  }

  private check(): void {
    const offset = Date.now() - performance.now();
    const jump = offset - this.offset;
    this.offset = offset;
    if (Math.abs(jump) <= JUMP_THRESHOLD_MS) return;
    for (const listener of [...this.listeners]) listener(jump);
  }
}

const systemTimeProvider: TimeProvider = new SystemTimeProvider();
