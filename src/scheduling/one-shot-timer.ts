import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import { onWholeWallMs, type TimeProvider, type TimerHandle } from '../time/time-provider.js';
import type { TickContext } from './tick-context.js';
import { TickUnit, type TickRunner } from './tick-unit.js';

/** How a `OneShotTimer` runs. */
export interface OneShotTimerOptions {
  /** The host's clock: the due time, the tick timeout, durations in the status. */
  time: TimeProvider;
  /** Aborts the run's signal after this many milliseconds (as `@Periodic`'s `timeoutMs`). */
  timeoutMs?: number;
}

/**
 * When a `OneShotTimer` runs: a number is a delay in milliseconds counted from `start()` on the
 * monotonic clock (a `@Delayed(ms)` task: `ms` after the host started; a task added after start is
 * started at once, so from when it was added); a `Date` is a wall-clock instant (re-checked when the
 * wall clock is set, never run early; an instant already past runs at once on start).
 */
export type OneShotDue = number | Date;

/**
 * One run of a task at one time (`HostingRegistry.addDelayed`, `@Delayed`), then done. Its status
 * is a periodic task's (kind `'periodic'`, `schedule` `once after <ms> ms` or `once at <ISO>`, no
 * `periodMs`, so health never counts it overdue): `idle` with `nextRunAt` while it waits,
 * `running`, then `stopped` once it ran (listed until removed). `trigger` runs it now as an extra
 * run (the one at its time still comes, as a triggered periodic run leaves the next slot armed);
 * `pause` holds it, and `resume` of a one-shot whose time passed while paused runs it at once
 * (a one-shot is never skipped). `stop` cancels it if it has not run and aborts a running run.
 */
export class OneShotTimer extends TickUnit {
  private timer?: TimerHandle;
  /** The due instant: on the wall clock for a Date, on the monotonic clock for a delay (set at start). */
  private dueAt?: number;
  /** The due instant as a wall-clock time, for `nextRunAt` and the run's `scheduledAt`. */
  private dueWall?: number;
  private started = false;
  /** The scheduled run happened (or started): nothing left to arm. */
  private fired = false;
  /** Its time came while a triggered run was going. */
  private dueWhileRunning = false;

  constructor(
    name: string,
    readonly due: OneShotDue,
    run: TickRunner,
    options: OneShotTimerOptions,
    /** Reports a failed run; a throw here is contained. */
    onError: (error: unknown, context: TickContext) => void,
  ) {
    super(name, run, options, onError);
    if (due instanceof Date) this.dueWall = this.dueAt = due.getTime();
  }

  /** When the run is due, while it waits (not paused, not yet run, not stopped). */
  get nextRunAt(): Date | undefined {
    return this.timer && this.dueWall !== undefined ? new Date(this.dueWall) : undefined;
  }

  /** How the schedule reads in the status. */
  describe(): string {
    return this.due instanceof Date ? `once at ${this.due.toISOString()}` : `once after ${this.due} ms`;
  }

  status(): ServiceStatus {
    return this.tracker.snapshot({ nextRunAt: this.nextRunAt, schedule: this.describe() });
  }

  /** Arms the run (a delay counts from now); paused before start, it waits for `resume`. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (typeof this.due === 'number') {
      // Due on a whole millisecond of the wall clock, so that `scheduledAt` is the instant it is due.
      this.dueAt = onWholeWallMs(this.time, this.time.monotonic() + this.due);
      this.dueWall = Math.round(this.dueAt + this.time.wallClockOffset());
    } else {
      this.unsubscribeJumps = this.time.onWallClockJump(() => this.rearm());
    }
    this.tracker.state = 'idle';
    if (!this.tracker.paused) this.arm();
  }

  /** `trigger`: an extra run now (the one at its time still comes). */
  protected runTriggered(): Promise<void> {
    return this.execute(true);
  }

  /** Arms the run again; if its time passed while paused, it runs at once. */
  resume(): void {
    if (!this.unpause()) return;
    if (this.started && !this.current) this.arm();
  }

  private arm(): void {
    if (this.fired || this.stopped || this.tracker.paused || this.timer) return;
    this.timer = this.time.setTimeout(() => this.fire(), this.dueAt! - this.clockNow());
  }

  private fire(): void {
    this.timer = undefined;
    // A wall-clock instant is never run early: the wall clock may have been set back since it was armed.
    if (this.clockNow() < this.dueAt!) return this.arm();
    // A triggered run is going: the scheduled run follows it (afterRun).
    if (this.current) this.dueWhileRunning = true;
    else void this.execute(false);
  }

  /** The wall clock was set: a waiting wall-clock run gets a timer for its new distance. */
  private rearm(): void {
    if (!this.timer) return;
    this.disarm();
    this.arm();
  }

  private clockNow(): number {
    return typeof this.due === 'number' ? this.time.monotonic() : this.time.now();
  }

  protected disarm(): void {
    this.timer?.clear();
    this.timer = undefined;
  }

  /** Starts one run (the scheduled one, or a triggered extra). */
  private execute(triggered: boolean): Promise<void> {
    if (!triggered) {
      this.fired = true;
      this.disarm();
      this.unsubscribeJumps?.();
      this.unsubscribeJumps = undefined;
    }
    return this.startRun(triggered ? this.time.now() : this.dueWall!, 0, triggered);
  }

  protected afterRun(): void {
    if (this.dueWhileRunning) {
      this.dueWhileRunning = false;
      void this.execute(false);
      return;
    }
    this.tracker.state = 'idle';
    if (this.runPendingTrigger()) return;
    // Waiting for its time (after a triggered run, or paused): idle; its one scheduled run done: stopped.
    this.tracker.state = this.fired ? 'stopped' : 'idle';
    if (!this.fired) this.arm();
  }
}
