import type { ConnectionStatus, ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker } from '../registry/status-tracker.js';
import { isAbortCaused } from '../errors/abort.js';
import { TICK_TIMED_OUT } from '../hosting.messages.js';
import { setLongTimeout, type LongTimeout } from './long-timeout.js';
import type { Schedule } from './schedule.js';
import { TickContext } from './tick-context.js';

/** How a `PeriodicTimer` runs. */
export interface PeriodicTimerOptions {
  runOnStart: boolean;
  jitterMs: number;
  timeoutMs?: number;
  /** The connections the task depends on (an exclusive task's Redis), shown in its status. */
  connections?: () => ConnectionStatus[] | undefined;
}

/** What a runner resolves with when the tick did not run here (an exclusive tick another instance ran). */
export const SKIPPED_TICK = Symbol.for('nest-hosting:skipped-tick');

/** Runs one tick, returning a value or a promise; may throw or reject with anything (the timer reports it and goes on). */
export type TickRunner = (context: TickContext) => unknown;

/**
 * .NET PeriodicTimer semantics for one task: slots on a fixed grid, never two runs at once,
 * slots that pass during an overrun folded into one immediate run and counted as missed.
 */
export class PeriodicTimer implements HostedUnit {
  readonly kind = 'periodic';
  private readonly tracker: StatusTracker;
  private timer?: LongTimeout;
  private nextSlot?: number;
  private lastSlot = 0;
  private tickCount = 0;
  private current?: { promise: Promise<void>; controller: AbortController };
  private pendingTrigger?: { promise: Promise<void>; resolve: () => void };
  private stopped = false;
  private stopReason: unknown;
  private started = false;
  /** `runOnStart` held by a pause made before start: the first tick runs on resume. */
  private firstRunHeld = false;

  constructor(
    readonly name: string,
    readonly schedule: Schedule,
    private readonly run: TickRunner,
    private readonly options: PeriodicTimerOptions,
    /** Reports a failed tick; a throw here is contained, the schedule goes on. */
    private readonly onError: (error: unknown, context: TickContext) => void,
  ) {
    this.tracker = new StatusTracker(name, 'periodic');
  }

  /** When the next scheduled tick is due, if one is armed. */
  get nextRunAt(): Date | undefined {
    return this.nextSlot === undefined ? undefined : new Date(this.nextSlot);
  }

  status(): ServiceStatus {
    return this.tracker.snapshot({
      nextRunAt: this.nextRunAt,
      schedule: this.schedule.describe(),
      periodMs: this.schedule.periodMs,
      connections: this.options.connections?.(),
    });
  }

  /**
   * Starts the schedule; the first slot is one period from now unless `runOnStart`. Paused before
   * start, it stays paused: nothing is armed, and a `runOnStart` tick waits for `resume`.
   */
  start(now: number = Date.now()): void {
    this.started = true;
    this.lastSlot = now;
    this.tracker.state = 'idle';
    if (this.tracker.paused) this.firstRunHeld = this.options.runOnStart;
    else if (this.options.runOnStart) void this.execute(now, 0, false);
    else this.arm(this.schedule.next(now));
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
    // The armed slot stays armed: if it comes due during this run, afterRun folds it in.
    return this.execute(Date.now(), 0, true);
  }

  /** Stops arming ticks; a running tick finishes. */
  pause(): void {
    this.tracker.paused = true;
    this.disarm();
  }

  /** Re-arms at the next slot of the grid; slots passed while paused are not counted as missed. */
  resume(): void {
    if (!this.tracker.paused || this.stopped) return;
    this.tracker.paused = false;
    if (!this.started || this.current) return; // not started: start() arms; running: afterRun() arms
    const now = Date.now();
    if (this.firstRunHeld) return void this.execute(now, 0, false);
    const { count, last } = this.schedule.slotsBetween(this.lastSlot, now);
    if (count > 0) this.lastSlot = last;
    this.arm(this.schedule.next(this.lastSlot));
  }

  /** No new tick from now on; aborts the running tick's signal and returns its settling. */
  stop({ reason }: Pick<StopRequest, 'reason'>): Promise<void> | undefined {
    this.stopped = true;
    this.stopReason = reason;
    this.disarm();
    this.pendingTrigger?.resolve();
    this.pendingTrigger = undefined;
    if (!this.current) {
      this.tracker.state = 'stopped';
      return undefined;
    }
    this.tracker.state = 'stopping';
    this.current.controller.abort(reason);
    return this.current.promise;
  }

  private arm(slot: number): void {
    if (this.stopped || this.tracker.paused) return;
    if (this.timer && this.nextSlot === slot) return; // still armed for it (a triggered run came between)
    this.timer?.clear();
    this.nextSlot = slot;
    const jitter = this.options.jitterMs > 0 ? Math.random() * this.options.jitterMs : 0;
    this.timer = setLongTimeout(() => {
      this.timer = undefined;
      this.nextSlot = undefined;
      if (!this.current) void this.execute(slot, 0, false); // else: a triggered run is going; afterRun folds this slot in
    }, slot + jitter - Date.now());
  }

  private disarm(): void {
    this.timer?.clear();
    this.timer = undefined;
    this.nextSlot = undefined;
  }

  /**
   * Starts one run. The promise never rejects (settle() reports the run's failure) and is kept as
   * `current` for stop() to await, so scheduled runs are started with `void`, not awaited.
   */
  private execute(slot: number, missed: number, triggered: boolean): Promise<void> {
    const controller = new AbortController();
    const context = new TickContext(this.name, ++this.tickCount, slot, controller, missed, triggered);
    this.firstRunHeld = false;
    if (!triggered) {
      this.lastSlot = slot;
      this.nextSlot = undefined;
    }
    this.tracker.state = 'running';
    this.tracker.runStarted();
    const { timeoutMs } = this.options;
    const timeout =
      timeoutMs === undefined ? undefined : setLongTimeout(() => controller.abort(new Error(TICK_TIMED_OUT(this.name, timeoutMs))), timeoutMs);
    // `current` is set before the run starts: a run that throws synchronously settles at once.
    const current = { controller, promise: Promise.resolve() };
    this.current = current;
    current.promise = this.settle(context, controller, timeout);
    return current.promise;
  }

  private async settle(context: TickContext, controller: AbortController, timeout: LongTimeout | undefined): Promise<void> {
    try {
      if ((await this.run(context)) === SKIPPED_TICK) this.tracker.runSkipped();
      else this.tracker.runSucceeded();
    } catch (error) {
      this.failed(error, context, controller.signal);
    } finally {
      timeout?.clear();
    }
    this.current = undefined;
    this.afterRun();
  }

  private failed(error: unknown, context: TickContext, signal: AbortSignal): void {
    // A tick that gives up because the host stopped it has stopped cleanly; a timeout stays a failure.
    if (this.stopped && signal.reason === this.stopReason && isAbortCaused(error, signal)) return this.tracker.runStopped();
    this.tracker.runFailed(error);
    try {
      this.onError(error, context);
    } catch {
      // Reporting failed (a logger that throws): the failure is counted, and the schedule must go on.
    }
  }

  private afterRun(): void {
    if (this.stopped) {
      this.tracker.state = 'stopped';
      return;
    }
    this.tracker.state = 'idle';
    const trigger = this.pendingTrigger;
    if (trigger) {
      this.pendingTrigger = undefined;
      void this.execute(Date.now(), 0, true).then(trigger.resolve);
      return;
    }
    if (this.tracker.paused) return;
    const { count, last } = this.schedule.slotsBetween(this.lastSlot, Date.now());
    if (count === 0) return this.arm(this.schedule.next(this.lastSlot));
    this.disarm();
    // PeriodicTimer: slots that passed during the run coalesce into one immediate run.
    this.tracker.missedTicks += count - 1;
    void this.execute(last, count - 1, false);
  }
}
