import { setImmediate as realSetImmediate } from 'node:timers';
import { OneCopy } from '../one-copy.js';
import { TimeProvider, WATCHDOG, type TimerHandle, type WallClockJumpListener } from '../time/time-provider.js';
import { showValue } from '../hosting.messages.js';

/** Options of `VirtualTime`. */
export interface VirtualTimeOptions {
  /** The wall-clock time the virtual clock starts at. @default the real time when it is made */
  now?: Date | number;
}

interface VirtualTimer {
  dueAt: number;
  seq: number;
  callback: () => void;
  cleared: boolean;
  /** A watchdog (a tick's `timeoutMs`, the late-task sweep): not work waiting on time. */
  watchdog: boolean;
}

/** Macrotask turns without any pending work after which the host counts as settled. */
const QUIET_TURNS = 2;
/** Turns that work which armed a timer gets to finish on its own before it counts as waiting on virtual time. */
const BLOCKED_TURNS = 5;

/**
 * A `TimeProvider` that moves only when told to (.NET's `FakeTimeProvider`, Temporal's
 * time-skipping): `advance(ms)` fires every timer that comes due, in order (periodic ticks,
 * retries, restarts, delayed tasks, your own `time.delay`s), and resolves once the work each one
 * started has settled. Nothing waits in real time; the same test gives the same result every run.
 *
 * @example
 * ```ts
 * const time = new VirtualTime({ now: new Date('2026-03-01T00:00:00Z') });
 * const app = await Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(TimeProvider).useValue(time)
 *   .compile();
 * await app.createNestApplication().init();
 * await time.advance(60_000); // every tick due in the next minute ran, and finished
 * ```
 */
@OneCopy('VirtualTime')
export class VirtualTime extends TimeProvider {
  private wall: number;
  private mono = 0;
  private seq = 0;
  private readonly timers: VirtualTimer[] = [];
  private readonly jumpListeners = new Set<WallClockJumpListener>();
  private readonly idleSources = new Set<() => Promise<unknown> | undefined>();
  private moving = false;
  /** Resolves the current settle's "a timer was armed" wait (see settle). */
  private onArmed?: () => void;
  /** Timers armed so far (watchdogs not counted), and that count when a timer last fired. */
  private arms = 0;
  private armsAtFire = 0;
  /** A settle left work waiting on virtual time; it counts as such until the hosts are idle again. */
  private waitingOnTime = false;

  constructor(options: VirtualTimeOptions = {}) {
    super();
    const start = options.now ?? Date.now();
    const ms = start instanceof Date ? start.getTime() : start;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError(`new VirtualTime({ now }): expected a Date or epoch milliseconds, got ${showValue(start)}`);
    this.wall = ms;
  }

  /** The virtual wall clock, in epoch milliseconds. */
  now(): number {
    return this.wall;
  }

  /** The virtual monotonic clock: milliseconds advanced since this clock was made (stepWallClock and suspend do not move it). */
  monotonic(): number {
    return this.mono;
  }

  /** A timer that fires when `advance` passes `delayMs` from now (monotonic). */
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const watchdog = (callback as { [WATCHDOG]?: boolean })[WATCHDOG] === true;
    const timer: VirtualTimer = { dueAt: this.mono + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0), seq: this.seq++, callback, cleared: false, watchdog };
    this.insert(timer);
    if (!watchdog) {
      this.arms++;
      this.onArmed?.();
    }
    return {
      clear: () => {
        if (timer.cleared) return;
        timer.cleared = true;
        const at = this.timers.indexOf(timer);
        if (at >= 0) this.timers.splice(at, 1);
      },
    };
  }

  /** Called by `stepWallClock` and `suspend` with the jump. */
  onWallClockJump(listener: WallClockJumpListener): () => void {
    this.jumpListeners.add(listener);
    return () => this.jumpListeners.delete(listener);
  }

  /** How many timers are waiting (armed ticks, backoffs, delays). */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** When the next timer fires, as a wall-clock `Date`, or undefined when none is waiting. */
  get nextTimerAt(): Date | undefined {
    const next = this.timers[0];
    return next === undefined ? undefined : new Date(this.wall + (next.dueAt - this.mono));
  }

  /**
   * Moves both clocks `ms` forward, firing every timer that comes due on the way, in order, each
   * at its own instant, and awaiting the work it started (a tick, a queue item, a restart) before
   * the next; resolves once everything has settled at the new time. `advance(0)` runs what is due now.
   */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
      throw new TypeError(`VirtualTime.advance(ms): expected a finite number of milliseconds >= 0, got ${showValue(ms)}`);
    if (this.moving) throw new Error('VirtualTime.advance: called while another advance/advanceTo is still running; await the first one');
    this.moving = true;
    try {
      const target = this.mono + ms;
      await this.settle();
      for (let next = this.timers[0]; next !== undefined && next.dueAt <= target; next = this.timers[0]) {
        this.timers.shift();
        this.wall += next.dueAt - this.mono;
        this.mono = next.dueAt;
        this.fire(next);
        await this.settle();
      }
      this.wall += target - this.mono;
      this.mono = target;
      await this.settle();
    } finally {
      this.moving = false;
    }
  }

  /** `advance` to a wall-clock instant (not before the current time). */
  advanceTo(date: Date | number): Promise<void> {
    const ms = date instanceof Date ? date.getTime() : date;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < this.wall)
      return Promise.reject(new TypeError(`VirtualTime.advanceTo(date): expected a Date not before ${new Date(this.wall).toISOString()}, got ${showValue(date)}`));
    return this.advance(ms - this.wall);
  }

  /**
   * Sets the wall clock `ms` forward (negative: back) without moving the monotonic clock or firing
   * timers by themselves, as an NTP step or a restored VM does; jump listeners (cron schedules) are
   * told, and what they start is awaited.
   */
  async stepWallClock(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms))
      throw new TypeError(`VirtualTime.stepWallClock(ms): expected a finite number of milliseconds, got ${showValue(ms)}`);
    this.wall += ms;
    for (const listener of [...this.jumpListeners]) listener(ms);
    await this.settle();
  }

  /**
   * The machine sleeps for `ms`: the wall clock moves on, the monotonic clock and its timers do
   * not (Linux's CLOCK_MONOTONIC, which Node's timers use, stops during suspend). Then the process
   * resumes and notices the wall clock's jump. Interval tasks go on from where they were; cron
   * tasks see the missed instants.
   */
  suspend(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
      return Promise.reject(new TypeError(`VirtualTime.suspend(ms): expected a finite number of milliseconds >= 0, got ${showValue(ms)}`));
    return this.stepWallClock(ms);
  }

  /** @internal */
  override trackIdle(busyWork: () => Promise<unknown> | undefined): () => void {
    this.idleSources.add(busyWork);
    return () => this.idleSources.delete(busyWork);
  }

  /**
   * Resolves once the hosts on this clock have no tick, queue item or start in progress (no time
   * passes): runs the event loop until they are idle, or until what still runs waits on this clock
   * (work that armed a timer, a `time.delay` or a backoff, and did not finish within a few turns
   * after it is left waiting, for `advance` to fire that timer when its time comes).
   */
  async settle(): Promise<void> {
    let armedWhileBusy = this.arms !== this.armsAtFire || this.waitingOnTime;
    for (let quiet = 0; quiet < QUIET_TURNS; ) {
      await turn();
      const due = this.timers[0] !== undefined && this.timers[0].dueAt <= this.mono;
      if (due) {
        this.fire(this.timers.shift()!);
        quiet = 0;
        continue;
      }
      const busy = [...this.idleSources].map((busyWork) => busyWork()).filter((work) => work !== undefined);
      if (busy.length === 0) {
        quiet++;
        armedWhileBusy = false;
        this.waitingOnTime = false;
        this.armsAtFire = this.arms;
        continue;
      }
      quiet = 0;
      const done = Promise.all(busy).then(() => 'done' as const);
      // A timer armed during the turns above (before onArmed was listening) counts too.
      if (this.arms !== this.armsAtFire) armedWhileBusy = true;
      if (armedWhileBusy) {
        // It armed a timer: give it a few turns to finish on its own (a tick arming its next slot does).
        if ((await Promise.race([done, turns(BLOCKED_TURNS)])) === 'done') continue;
        this.waitingOnTime = true;
        return; // it waits on virtual time
      }
      const armed = new Promise<'armed'>((resolve) => (this.onArmed = () => resolve('armed')));
      armedWhileBusy = (await Promise.race([done, armed])) === 'armed';
      this.onArmed = undefined;
    }
  }

  private fire(timer: VirtualTimer): void {
    timer.cleared = true;
    // A watchdog starts no work: work already running that armed a timer still waits on time.
    if (!timer.watchdog) this.armsAtFire = this.arms;
    timer.callback();
  }

  private insert(timer: VirtualTimer): void {
    const timers = this.timers;
    let lo = 0;
    let hi = timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = timers[mid]!;
      if (t.dueAt < timer.dueAt || (t.dueAt === timer.dueAt && t.seq < timer.seq)) lo = mid + 1;
      else hi = mid;
    }
    timers.splice(lo, 0, timer);
  }
}

/** One real macrotask turn: promise chains and setImmediate callbacks of the work run to their next wait. */
const turn = (): Promise<void> => new Promise<void>((resolve) => realSetImmediate(resolve));

async function turns(count: number): Promise<'turns'> {
  for (let i = 0; i < count; i++) await turn();
  return 'turns';
}
