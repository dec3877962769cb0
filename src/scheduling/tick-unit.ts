import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker } from '../registry/status-tracker.js';
import { isAbortCaused } from '../errors/abort.js';
import { TICK_TIMED_OUT } from '../hosting.messages.js';
import { TimeProvider, watchdog, type TimerHandle } from '../time/time-provider.js';
import { LazyAbortController } from './lazy-abort-controller.js';
import { TickContext } from './tick-context.js';

/** What `startRun` returns for a run that settled before it returned. */
const SETTLED: Promise<void> = Promise.resolve();

const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';

/**
 * The run going on: its abort (the controller of its `ctx.signal`, itself: one object per run),
 * its watchdog, and its settling, made only when someone waits for it.
 */
class RunningTick extends LazyAbortController {
  private settling?: Promise<void>;
  private resolve?: () => void;
  private done = false;
  timeout: TimerHandle | undefined = undefined;

  /** Resolves when the run has settled (its outcome counted). */
  get promise(): Promise<void> {
    if (this.done) return SETTLED;
    return (this.settling ??= new Promise<void>((resolve) => (this.resolve = resolve)));
  }

  settled(): void {
    this.done = true;
    this.resolve?.();
  }
}

/** What a runner resolves with when the tick did not run here (an exclusive tick another instance ran). */
export const SKIPPED_TICK = Symbol.for('nest-hosting:skipped-tick');

/** Runs one tick, returning a value or a promise; may throw or reject with anything (the unit reports it and goes on). */
export type TickRunner = (context: TickContext) => unknown;

/** How a tick unit runs its ticks. */
export interface TickUnitOptions {
  /** The host's clock: timers, the tick timeout, the times in the status. */
  time: TimeProvider;
  /** Aborts a run's signal after this many milliseconds. */
  timeoutMs?: number;
}

/**
 * What a periodic task and a one-shot task share: one run at a time with its `TickContext`, its
 * `timeoutMs` watchdog and its outcome counted (a failure reported, a run stopped by the host a
 * clean stop); `trigger` with one queued follow-up for all callers; `stop` that cancels what is
 * armed and aborts the running run. The subclass decides when runs happen (`afterRun`, timers).
 */
export abstract class TickUnit implements HostedUnit {
  readonly kind = 'periodic';
  protected readonly tracker: StatusTracker;
  protected readonly time: TimeProvider;
  /** The run's watchdog (kept here: read at every run). */
  private readonly timeoutMs: number | undefined;
  protected current?: RunningTick;
  protected pendingTrigger?: { promise: Promise<void>; resolve: () => void };
  protected stopped = false;
  protected tickCount = 0;
  /** Unsubscribes from wall-clock jumps (units whose time is a wall-clock instant). */
  protected unsubscribeJumps?: () => void;
  private stopReason: unknown;
  /** In `afterRun`, at the end of a run. */
  private settling = false;

  constructor(
    readonly name: string,
    private readonly run: TickRunner,
    tickOptions: TickUnitOptions,
    /** Reports a failed run; a throw here is contained, the unit goes on. */
    private readonly onError: (error: unknown, context: TickContext) => void,
  ) {
    this.time = tickOptions.time;
    this.timeoutMs = tickOptions.timeoutMs;
    const { time } = tickOptions;
    this.tracker = new StatusTracker(name, 'periodic', time === TimeProvider.system ? Date.now : () => time.now());
  }

  abstract start(): void;
  abstract status(): ServiceStatus;
  /** Cancels the armed timer, if any. */
  protected abstract disarm(): void;
  /** Starts a triggered run now. */
  protected abstract runTriggered(): Promise<void>;
  /** After each run (not stopped): the follow-up trigger, the next slot, or done. */
  protected abstract afterRun(): void;

  /** The running run's settling, if one runs (for `HostingRegistry.whenIdle` and virtual time). */
  busyWork(): Promise<unknown> | undefined {
    return this.current?.promise;
  }

  /** Runs the task now; while a run is going, one follow-up run is queued for all callers. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.current) {
      if (!this.pendingTrigger) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.pendingTrigger = { promise, resolve };
      }
      return this.pendingTrigger.promise;
    }
    return this.runTriggered();
  }

  /** Holds the unit's runs (a running one finishes). */
  pause(): void {
    this.tracker.paused = true;
    this.disarm();
  }

  /** Called again by `HostingRegistry.resume`: each unit arms in its own way. */
  abstract resume(): void;

  /** Clears the pause; false when there was none or the unit stopped (nothing to arm then). */
  protected unpause(): boolean {
    if (!this.tracker.paused || this.stopped) return false;
    this.tracker.paused = false;
    return true;
  }

  /** No new run from now on; aborts the running run's signal and returns its settling. */
  stop({ reason }: Pick<StopRequest, 'reason'>): Promise<void> | undefined {
    this.stopped = true;
    this.stopReason = reason;
    this.disarm();
    this.unsubscribeJumps?.();
    this.unsubscribeJumps = undefined;
    this.pendingTrigger?.resolve();
    this.pendingTrigger = undefined;
    if (!this.current) {
      this.tracker.state = 'stopped';
      return undefined;
    }
    this.tracker.state = 'stopping';
    this.current.abort(reason);
    return this.current.promise;
  }

  /** The queued follow-up trigger, taken: run it now. Returns whether there was one. */
  protected runPendingTrigger(): boolean {
    const trigger = this.pendingTrigger;
    if (!trigger) return false;
    this.pendingTrigger = undefined;
    void this.runTriggered().then(trigger.resolve);
    return true;
  }

  /**
   * Starts one run. The promise never rejects (the run's failure is reported) and is the run's
   * settling, so scheduled runs are started with `void`, not awaited. A run that returns without a
   * promise settles before this returns: no promise is made for it, and the next slot is armed at once.
   * `startedAt`: the wall-clock start, when the caller has just read the clock (unset: read here).
   */
  protected startRun(scheduledAtMs: number, missed: number, triggered: boolean, startedAt?: number): Promise<void> {
    const current = new RunningTick();
    const context = new TickContext(this.name, ++this.tickCount, scheduledAtMs, current, missed, triggered);
    this.tracker.state = 'running';
    this.tracker.runStarted(startedAt);
    const timeoutMs = this.timeoutMs;
    if (timeoutMs !== undefined) current.timeout = this.time.setTimeout(watchdog(() => current.abort(new Error(TICK_TIMED_OUT(this.name, timeoutMs)))), timeoutMs);
    // `current` is set before the run starts: stop() and busyWork() see a run that calls back into the unit.
    this.current = current;
    if (!this.settling) return this.call(context, current);
    // A run started by the end of another (a coalesced slot after an overrun, a queued trigger)
    // starts on the next turn of the event loop: a task whose runs keep overrunning their slot
    // neither grows the stack nor starves I/O, timers and shutdown signals.
    setImmediate(() => {
      if (!this.stopped) return void this.call(context, current);
      this.tracker.runSkipped(); // stopped before it began: not a run
      this.settle(current);
    });
    return current.promise;
  }

  private call(context: TickContext, current: RunningTick): Promise<void> {
    let result: unknown;
    let promised: boolean;
    try {
      result = this.run(context);
      promised = isPromiseLike(result); // reading `then` may throw (a hostile proxy): a failure like any
    } catch (error) {
      this.failed(error, context, current.signal);
      this.settle(current);
      return SETTLED;
    }
    if (promised) return this.settleLater(result as PromiseLike<unknown>, context, current);
    if (result === SKIPPED_TICK) this.tracker.runSkipped();
    else this.tracker.runSucceeded(undefined, this.finishedNow());
    this.settle(current);
    return SETTLED;
  }

  private async settleLater(result: PromiseLike<unknown>, context: TickContext, current: RunningTick): Promise<void> {
    try {
      if ((await result) === SKIPPED_TICK) this.tracker.runSkipped();
      else this.tracker.runSucceeded(undefined, this.finishedNow());
    } catch (error) {
      this.failed(error, context, current.signal);
    }
    this.settle(current);
  }

  /**
   * The wall-clock time a run ends at, for its status, read by a subclass that needs the time then
   * too (one clock read for both); undefined: the tracker reads its clock.
   */
  protected finishedNow(): number | undefined {
    return undefined;
  }

  /** The run is over (its outcome counted): the watchdog goes, and the next run or slot is seen to. */
  private settle(current: RunningTick): void {
    current.timeout?.clear();
    this.current = undefined;
    current.settled();
    if (this.stopped) {
      this.tracker.state = 'stopped';
      return;
    }
    this.settling = true;
    try {
      this.afterRun();
    } finally {
      this.settling = false;
    }
  }

  private failed(error: unknown, context: TickContext, signal: AbortSignal): void {
    // A run that gives up because the host stopped it has stopped cleanly; a timeout stays a failure.
    if (this.stopped && signal.reason === this.stopReason && isAbortCaused(error, signal)) return this.tracker.runStopped(undefined, this.finishedNow());
    this.tracker.runFailed(error, undefined, this.finishedNow());
    try {
      this.onError(error, context);
    } catch {
      // Reporting failed (a logger that throws): the failure is counted, and the schedule must go on.
    }
  }
}
