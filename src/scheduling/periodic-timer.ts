import type { ConnectionStatus, ServiceStatus } from '../interfaces/service-status.interface.js';
import { onWholeWallMs, type TimeProvider } from '../time/time-provider.js';
import { TimerQueue, type QueuedTimer } from '../time/timer-queue.js';
import type { MissedPolicy } from './periodic-task-definition.js';
import type { Schedule } from './schedule.js';
import { StaleDeadline, type StaleBudget, type Staleness } from './staleness.js';
import type { TickContext } from './tick-context.js';
import { TickUnit, type TickRunner } from './tick-unit.js';

export { SKIPPED_TICK, type TickRunner } from './tick-unit.js';

/** How a `PeriodicTimer` runs. */
export interface PeriodicTimerOptions {
  runOnStart: boolean;
  jitterMs: number;
  /** Each tick delayed by a stable offset in [0, spreadMs) from the task's name (kept below the gap to the next slot). @default 0 */
  spreadMs?: number;
  timeoutMs?: number;
  /**
   * The first tick is at now + initialDelayMs (an interval grid restarts there), or the first
   * slot at or after it (cron, exclusive grids); unset: the first slot after now.
   */
  initialDelayMs?: number;
  /** The connections the task depends on (an exclusive task's Redis), shown in its status. */
  connections?: () => ConnectionStatus[] | undefined;
  /** The host's clock: slots, timers and the tick timeout. */
  time: TimeProvider;
  /** What slots that passed without a run do. @default 'coalesce' */
  onMissed?: MissedPolicy;
  /**
   * An exclusive task's last run slot across instances (epoch ms), read once at start: slots passed
   * since then were missed by the whole cluster. May reject (then nothing is caught up).
   */
  lastRunSlot?: () => Promise<number | undefined>;
  /** Missed-run alerts: the task's budget (unset: never late). */
  staleBudget?: StaleBudget;
  /** Whether the host runs (not stopping): once it stops, no task is late. @default always */
  hostRunning?: () => boolean;
  /**
   * An exclusive task's last success on any instance (epoch ms), read by the host's watcher (not per
   * status read); may reject (the local judgement stands).
   */
  clusterSucceededAt?: () => Promise<number | undefined>;
}

/**
 * .NET PeriodicTimer semantics for one task: slots on a fixed grid, never two runs at once,
 * slots that pass during an overrun folded into one immediate run and counted as missed (or
 * skipped, or caught up one by one: `onMissed`).
 */
export class PeriodicTimer extends TickUnit implements QueuedTimer {
  // The task is its own timer, armed for each slot in the provider's shared queue (`QueuedTimer`: the queue's fields).
  queueGeneration = 0;
  queueArmed = false;
  private readonly queue: TimerQueue;
  /** When the armed timer is due on the schedule's clock (its slot plus jitter). */
  private dueAt = 0;
  // Numbers, never undefined (NaN: none): a field that holds undefined or a number is boxed again at
  // every write, and these are written at every tick.
  private wallOffset = Number.NaN;
  /** The schedule's clock as the end of the last run read it for its status (NaN: not read), taken by `afterRun`. */
  private settledNow = Number.NaN;
  /** The slot the armed timer stands for (NaN: none armed). */
  private nextSlot = Number.NaN;
  private lastSlot = 0;
  private started = false;
  /** `runOnStart` held by a pause made before start: the first tick runs on resume. */
  private firstRunHeld = false;
  /** Slots missed since the last scheduled run (its `ctx.missedTicks`). */
  private missedSinceRun = 0;
  /** The start-up look at an exclusive task's last run slot, while it lasts. */
  private startup?: Promise<void>;
  /** Missed-run alerts: the deadline from a reference instant, when the check is on. */
  private readonly staleDeadline?: StaleDeadline;
  /** Wall-clock start (plus `initialDelayMs`): the reference before the first success. */
  private staleSince = 0;
  /** The latest success on any instance, as the watcher last read it (epoch ms; 0: none known). */
  private clusterSucceededAt = 0;
  // Read at every tick, kept here rather than read from `options` (one object fewer to touch per tick).
  private readonly jitterMs: number;
  private readonly spreadMs: number;
  /** Whether `onMissed` is a catch-up (the on-time fast path does not apply). */
  private readonly catchesUp: boolean;
  /** The late-task watcher's board and this task's place on it (see `LateTaskWatcher`), while it watches. */
  private staleBoard?: Float64Array;
  private staleIndex = 0;
  /** The missed-run deadline's distance from the last success, when fixed (NaN: a cron budget, or none). */
  private readonly staleOffset: number = Number.NaN;
  /** The task's place in a `spreadMs` window, from its name: the same in every process. */
  private readonly spreadFraction: number;

  constructor(
    name: string,
    readonly schedule: Schedule,
    run: TickRunner,
    private readonly options: PeriodicTimerOptions,
    /** Reports a failed tick; a throw here is contained, the schedule goes on. */
    onError: (error: unknown, context: TickContext) => void,
  ) {
    super(name, run, options, onError);
    this.queue = TimerQueue.of(options.time);
    this.jitterMs = options.jitterMs;
    this.spreadMs = options.spreadMs ?? 0;
    this.catchesUp = typeof options.onMissed === 'object';
    this.spreadFraction = options.spreadMs ? spreadFractionOf(name) : 0;
    if (options.staleBudget) {
      this.staleDeadline = new StaleDeadline(options.staleBudget, schedule);
      this.staleOffset = this.staleDeadline.fixedOffset;
    }
  }

  /**
   * The watcher gives the task a place on its board: after each run the task writes its deadline
   * there (when it is a fixed offset from its last success), so a sweep need not look at it.
   */
  attachStaleBoard(board: Float64Array, index: number): void {
    this.staleBoard = board;
    this.staleIndex = index;
  }

  /**
   * A time before which the task cannot be late, known without computing its deadline (epoch ms), or
   * NaN. For a cron budget, its armed slot: the deadline is the budget's n-th slot after the last
   * success (or the start), and the armed slot is the first slot after the last run's, which is no
   * later (a wall-clock slot never runs early). Interval budgets are a sum, cheap to compute: NaN.
   */
  staleLowerBound(): number {
    return this.queueArmed && this.schedule.clock === 'wall' && Number.isNaN(this.staleOffset) ? this.nextSlot : Number.NaN;
  }

  detachStaleBoard(): void {
    this.staleBoard = undefined;
  }

  /** The missed-run budget, when the check is on. */
  get staleBudget(): StaleBudget | undefined {
    return this.staleDeadline?.budget;
  }

  /** Whether the missed-run check reads the cluster's last success (an exclusive task). */
  get clusterWide(): boolean {
    return this.staleDeadline !== undefined && this.options.clusterSucceededAt !== undefined;
  }

  /**
   * Where the task stands against its missed-run budget at `now` (wall clock), or undefined when it
   * is not checked: no budget, not started yet, stopped, or the host is stopping.
   */
  staleness(now: number = this.time.now()): Staleness | undefined {
    const dueBy = this.staleDueBy();
    if (Number.isNaN(dueBy)) return undefined;
    const succeededAt = Math.max(this.tracker.succeededAt, this.clusterSucceededAt);
    const since = this.staleReference();
    return { late: now > dueBy, dueBy, since, budgetMs: dueBy - since, ...(succeededAt > 0 && { succeededAt }) };
  }

  /**
   * The deadline of the task's next success (epoch ms), or NaN when it is not checked now (as
   * `staleness`, without making an object: the watcher asks every task at every sweep).
   */
  staleDueBy(): number {
    const deadline = this.staleDeadline;
    if (!deadline || !this.started || this.stopped || this.options.hostRunning?.() === false) return Number.NaN;
    return deadline.dueBy(this.staleReference());
  }

  /** What the missed-run budget counts from: the last success (on any instance), or the start. */
  staleReference(): number {
    const succeededAt = Math.max(this.tracker.succeededAt, this.clusterSucceededAt);
    return succeededAt > 0 ? succeededAt : this.staleSince;
  }

  /** Reads the cluster's last success of an exclusive task; a failed read keeps what was known. Never rejects. */
  async refreshClusterSuccess(): Promise<void> {
    const read = this.options.clusterSucceededAt;
    if (!read) return;
    try {
      const at = await read();
      if (at !== undefined && Number.isFinite(at) && at > this.clusterSucceededAt) this.clusterSucceededAt = at;
    } catch {
      // Redis unreachable: the local judgement stands (the ticks report the outage).
    }
  }

  /** When the next scheduled tick is due, if one is armed. */
  get nextRunAt(): Date | undefined {
    return Number.isNaN(this.nextSlot) ? undefined : new Date(this.toWall(this.nextSlot));
  }

  /** The running tick's settling, if one runs (for `HostingRegistry.whenIdle`). */
  override busyWork(): Promise<unknown> | undefined {
    return this.current?.promise ?? this.startup;
  }

  status(): ServiceStatus {
    const status = this.tracker.snapshot({
      nextRunAt: this.nextRunAt,
      schedule: this.schedule.describe(),
      periodMs: this.schedule.periodMs,
      connections: this.options.connections?.(),
    });
    const succeededAt = Math.max(this.tracker.succeededAt, this.clusterSucceededAt);
    if (succeededAt > 0) status.lastSucceededAt = new Date(succeededAt);
    if (!this.staleDeadline) return status;
    const stale = this.staleness();
    status.late = stale?.late ?? false;
    if (stale) status.dueBy = new Date(stale.dueBy);
    return status;
  }

  /**
   * Starts the schedule; the first slot is one period from now unless `runOnStart`. Paused before
   * start, it stays paused: nothing is armed, and a `runOnStart` tick waits for `resume`.
   */
  start(now: number = this.clockNow()): void {
    this.started = true;
    if (this.staleDeadline) this.staleSince = this.time.now() + (this.options.initialDelayMs ?? 0);
    // Cron (and exclusive) slots are wall-clock instants: when the wall clock is set, re-arm for the slot.
    if (this.schedule.clock === 'wall') this.unsubscribeJumps = this.time.onWallClockJump(() => this.rearm());
    this.lastSlot = now;
    const delay = this.options.initialDelayMs;
    if (delay !== undefined) {
      // The first slot is the first at or after now + delay: an interval grid restarts there; the
      // slots before it are not missed ones (lastSlot stands just before it).
      this.schedule.startAt?.(this.schedule.clock === 'wall' ? now + delay : onWholeWallMs(this.time, now + delay));
      this.lastSlot = now + delay - 1;
    }
    this.tracker.state = 'idle';
    if (this.tracker.paused) this.firstRunHeld = this.options.runOnStart;
    else if (this.options.runOnStart) void this.execute(now, 0, false);
    else this.arm(this.schedule.next(this.lastSlot));
    const { lastRunSlot, onMissed = 'coalesce', runOnStart } = this.options;
    if (lastRunSlot && onMissed !== 'skip' && !runOnStart) {
      const startup = this.catchUpAtStart(lastRunSlot, now).finally(() => {
        if (this.startup === startup) this.startup = undefined;
      });
      this.startup = startup;
    }
  }

  protected runTriggered(): Promise<void> {
    // The armed slot stays armed: if it comes due during this run, afterRun folds it in.
    return this.executeTriggered();
  }

  /** Re-arms at the next slot of the grid; slots passed while paused are not counted as missed. */
  resume(): void {
    if (!this.unpause()) return;
    if (!this.started || this.current) return; // not started: start() arms; running: afterRun() arms
    const now = this.clockNow();
    if (this.firstRunHeld) return void this.execute(now, 0, false);
    const { count, last } = this.schedule.slotsBetween(this.lastSlot, now);
    if (count > 0) this.lastSlot = last; // paused, not missed: neither run nor counted, whatever `onMissed`
    this.arm(this.schedule.next(this.lastSlot));
  }

  private arm(slot: number): void {
    if (this.stopped || this.tracker.paused) return;
    if (this.queueArmed && this.nextSlot === slot) return; // still armed for it (a triggered run came between)
    this.nextSlot = slot;
    const jitter = this.jitterMs > 0 ? Math.random() * this.jitterMs : 0;
    this.dueAt = slot + this.spreadOffset(slot) + jitter;
    this.setTimer();
  }

  private setTimer(): void {
    // The due instant on the monotonic clock, computed from the slot alone (a wall-clock slot through
    // the provider's clock offset), so that every task due at one instant lands in one bucket.
    this.queue.armAt(this, this.schedule.clock === 'wall' ? this.dueAt - this.queue.wallClockOffset() : this.dueAt);
  }

  /** The armed slot came due (or the wall clock says not yet: armed again). Called by the queue only. */
  fireQueued(): void {
    // Monotonic slots: the clock as the batch last read it (its start, or the end of the run before),
    // at most one run's bookkeeping old, and the run's start in the status.
    const wall = this.schedule.clock === 'wall';
    const now = wall ? this.time.now() : this.queue.recentNow();
    // A wall-clock slot is never run early: the wall clock may have been set back since it was armed.
    if (wall && now < this.dueAt) return this.setTimer();
    const slot = this.nextSlot;
    this.nextSlot = Number.NaN;
    if (this.current) return; // a triggered run is going; afterRun deals with this slot
    // No later slot has passed (the common case): it runs at once under 'coalesce' and 'skip' (a
    // catch-up runs a late slot only inside its window: overdue judges it).
    if (!this.catchesUp && slot > this.lastSlot && this.schedule.next(slot) > now) return void this.execute(slot, 0, false, wall ? now : now + this.queue.wallClockOffset());
    // Fired late (a blocked event loop, a wall clock set forward): `onMissed` says what the slots passed do.
    this.overdue(this.lastSlot, now, slot);
  }

  /**
   * The wall clock jumped: an armed wall-clock slot gets a timer for its new distance (a slot now
   * in the past fires at once, and the slots passed are counted as the schedule's `onMissed` says).
   */
  private rearm(): void {
    if (!this.queueArmed || Number.isNaN(this.nextSlot)) return;
    this.setTimer();
  }

  /**
   * The task's stable offset after `slot`: its name's place in [0, 1) times `spreadMs`, or times the
   * gap to the next slot when that is shorter (a spread tick is never late enough to pass a slot).
   */
  private spreadOffset(slot: number): number {
    const spreadMs = this.spreadMs;
    if (spreadMs === 0) return 0;
    const window = Math.min(spreadMs, this.schedule.periodMs ?? this.schedule.next(slot) - slot);
    // On one of SPREAD_STEPS instants of the window (whole ms): tasks that share one wake together,
    // so spreading thousands of tasks costs at most that many timer wakes per window, not one per task.
    const step = Math.max(1, Math.floor(window / SPREAD_STEPS));
    return Math.min(Math.floor((this.spreadFraction * window) / step) * step, Math.max(window - 1, 0));
  }

  /** Now, on the clock the schedule's slots are on. */
  private clockNow(): number {
    return this.schedule.clock === 'wall' ? this.time.now() : this.time.monotonic();
  }

  /**
   * A slot as a wall-clock instant. Monotonic slots are placed by the offset between the clocks,
   * kept while it moves less than a second (so that the dates stay on the grid) and taken anew
   * when the wall clock was set. The grid lies on whole milliseconds of that offset
   * (`onWholeWallMs`), so the instant is the slot itself; the rounding only removes float noise.
   */
  private toWall(slot: number): number {
    if (this.schedule.clock === 'wall') return slot;
    const offset = this.queue.wallClockOffset();
    if (Number.isNaN(this.wallOffset) || Math.abs(offset - this.wallOffset) > 1_000) this.wallOffset = offset;
    return Math.round(slot + this.wallOffset);
  }

  protected disarm(): void {
    this.queue.cancel(this);
    this.nextSlot = Number.NaN;
  }

  /** Starts one run at `slot` (scheduled runs: the grid moves on to it); `startedAt`: the wall clock, when just read. */
  private execute(slot: number, missed: number, triggered: boolean, startedAt?: number): Promise<void> {
    if (!triggered) {
      missed += this.missedSinceRun;
      this.missedSinceRun = 0;
      this.lastSlot = slot;
      this.nextSlot = Number.NaN;
    }
    this.firstRunHeld = false;
    return this.startRun(this.toWall(slot), missed, triggered, startedAt);
  }

  /** A triggered run is scheduled at now, on the wall clock (one clock read, no slot to place). */
  private executeTriggered(): Promise<void> {
    this.firstRunHeld = false;
    return this.startRun(this.time.now(), 0, true);
  }

  /**
   * The run's end on the wall clock, read once for its status and for the next slot (`afterRun`): a
   * wall-clock schedule reads its clock; a monotonic one in a batch reads the monotonic clock (placed
   * on the wall clock by the batch's offset, and serving the next timer of the batch as its start).
   * Outside a batch (a run that settled later) the tracker reads the wall clock, and `afterRun` its own.
   */
  protected override finishedNow(): number | undefined {
    if (this.schedule.clock === 'wall') return (this.settledNow = this.time.now());
    if (!this.queue.inBatch) return undefined;
    const now = (this.settledNow = this.queue.readNow());
    return now + this.queue.wallClockOffset();
  }

  protected afterRun(): void {
    const settledNow = this.settledNow;
    this.settledNow = Number.NaN;
    this.tracker.state = 'idle';
    const board = this.staleBoard;
    if (board !== undefined && this.tracker.succeededAt > 0 && !Number.isNaN(this.staleOffset)) board[this.staleIndex] = this.tracker.succeededAt + this.staleOffset;
    if (this.runPendingTrigger()) return;
    if (this.tracker.paused) return;
    this.overdue(this.lastSlot, Number.isNaN(settledNow) ? this.clockNow() : settledNow);
  }

  /**
   * Deals with the slots in (`after`, `now`] as `onMissed` says, then runs one or arms the next.
   * `due` is the slot whose timer fired: with no later slot passed it is late, not missed (it runs;
   * under a catch-up, inside the window). Without `due` (after a run, at start-up) every slot
   * passed went by without its run.
   */
  private overdue(after: number, now: number, due?: number): void {
    if (due === undefined) {
      const next = this.schedule.next(after);
      if (next > now) return this.arm(next); // none passed (the common case after a run)
    }
    let { count, last } = this.schedule.slotsBetween(after, now);
    if (count === 0 && due !== undefined) [count, last] = [1, due]; // a monotonic timer a hair early
    if (count === 0) return this.arm(this.schedule.next(after));
    const policy = this.options.onMissed ?? 'coalesce';
    let run = last;
    if (policy === 'coalesce') {
      this.missed(count - 1); // PeriodicTimer: one immediate run stands for all of them
    } else if (policy === 'skip') {
      if (due === undefined || count > 1) return this.skip(count, last); // none runs: back on the grid
    } else {
      const oldest = now - policy.windowMs - this.options.jitterMs - (this.options.spreadMs ?? 0);
      const kept = this.schedule.lastSlots(Math.max(after, oldest - 1), now, policy.catchUp).filter((slot) => slot >= oldest);
      if (kept.length === 0) return this.skip(count, last);
      this.missed(count - kept.length);
      run = kept[0]!; // the others follow, judged again after this run
    }
    this.disarm();
    void this.execute(run, 0, false);
  }

  /** `count` slots up to `last` go without a run: counted, and the next slot after them armed. */
  private skip(count: number, last: number): void {
    this.missed(count);
    this.lastSlot = last;
    this.arm(this.schedule.next(last));
  }

  private missed(count: number): void {
    if (count === 0) return;
    this.tracker.missedTicks += count;
    this.missedSinceRun += count;
  }

  /**
   * An exclusive task at start: the slots between the cluster's last run and this start went by on
   * every instance; `onMissed` says what they do (each run is claimed like any slot).
   */
  private async catchUpAtStart(read: () => Promise<number | undefined>, startedAt: number): Promise<void> {
    let recorded: number | undefined;
    try {
      recorded = await read();
    } catch {
      return; // the store is unreachable: nothing to catch up from (the ticks report the outage)
    }
    if (recorded === undefined || this.stopped || this.tracker.paused || this.tickCount > 0) return; // a tick came first
    if (this.schedule.slotsBetween(recorded, startedAt).count === 0) return;
    this.overdue(recorded, this.clockNow());
  }
}

/** How many instants a `spreadMs` window is cut into. */
const SPREAD_STEPS = 100;

/** A stable fraction in [0, 1) of a task name (FNV-1a, 32 bits, finalised): where the task falls in a `spreadMs` window. */
function spreadFractionOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // MurmurHash3's finaliser: names that differ in their last character land far apart.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}
