import { CronTime } from 'cron';
import type { CronSchedule as CronScheduleOptions } from '../interfaces/periodic-options.interface.js';

/** How a cron schedule treats a wall-clock time that a fall-back day repeats (`@Periodic({ cron, repeatedTime })`). */
export type RepeatedTime = NonNullable<CronScheduleOptions['repeatedTime']>;

/** Where the slots of a periodic task fall in time. Plain arithmetic, no timers. */
export interface Schedule {
  /** The first slot strictly after `afterMs` (epoch milliseconds). */
  next(afterMs: number): number;
  /**
   * Restarts an interval grid so that its first slot is `firstSlotMs` (`initialDelayMs`). Grids
   * shared by instances (wall clock) and cron schedules keep their slots.
   */
  startAt?(firstSlotMs: number): void;
  /** How many slots fall in (`afterMs`, `untilMs`], and the last of them. */
  slotsBetween(afterMs: number, untilMs: number): { count: number; last: number };
  /** The last `n` (at most) slots in (`afterMs`, `untilMs`], oldest first (for a catch-up). */
  lastSlots(afterMs: number, untilMs: number, n: number): number[];
  /** The schedule as a user wrote it: `'every 60000 ms'` or the cron expression. */
  describe(): string;
  /** The nominal period in milliseconds, when the schedule has one (used to judge overdue tasks). */
  readonly periodMs?: number;
  /**
   * The clock its slots are on: `'monotonic'` (interval grids: a wall clock set back or forward
   * does not move them) or `'wall'` (cron, and exclusive tasks, whose slots every instance must agree on).
   */
  readonly clock: 'monotonic' | 'wall';
}

/** Fixed-rate slots at `anchorMs + k·periodMs`, as .NET's PeriodicTimer (no drift). */
export class FixedRateSchedule implements Schedule {
  constructor(
    readonly periodMs: number,
    private anchorMs: number,
    readonly clock: 'monotonic' | 'wall' = 'monotonic',
  ) {}

  startAt(firstSlotMs: number): void {
    // next() never returns the anchor itself: anchored a period earlier, the first slot is firstSlotMs.
    if (this.clock === 'monotonic') this.anchorMs = firstSlotMs - this.periodMs;
  }

  next(afterMs: number): number {
    const k = Math.floor((afterMs - this.anchorMs) / this.periodMs) + 1;
    return this.anchorMs + Math.max(k, 1) * this.periodMs;
  }

  slotsBetween(afterMs: number, untilMs: number): { count: number; last: number } {
    const first = this.next(afterMs);
    if (first > untilMs) return { count: 0, last: afterMs };
    const count = Math.floor((untilMs - first) / this.periodMs) + 1;
    return { count, last: first + (count - 1) * this.periodMs };
  }

  lastSlots(afterMs: number, untilMs: number, n: number): number[] {
    const { count, last } = this.slotsBetween(afterMs, untilMs);
    const kept = Math.min(count, n);
    const k = Math.round((last - this.anchorMs) / this.periodMs);
    return Array.from({ length: kept }, (_, i) => this.anchorMs + (k - kept + 1 + i) * this.periodMs);
  }

  describe(): string {
    return `every ${this.periodMs} ms`;
  }
}

/** Cap on slots counted one by one for cron schedules (a run overrunning a per-second cron for hours). */
const MAX_COUNTED_CRON_SLOTS = 100_000;

/** Cron slots, computed by the `cron` package (the one `@nestjs/schedule` uses), so both agree. */
export class CronSchedule implements Schedule {
  readonly clock = 'wall';
  private readonly time: CronTime;
  /** Set for `repeatedTime: 'once'`: finds the slots to drop on a fall-back day. */
  private readonly wallClock?: WallClock;
  /** The wall clock `periodMs` is measured from (the host's TimeProvider). */
  now: () => number = Date.now;

  /** Throws the `cron` package's error for an invalid expression or time zone. */
  constructor(
    private readonly expression: string,
    private readonly timeZone?: string,
    repeatedTime: RepeatedTime = 'twice',
  ) {
    this.time = new CronTime(expression, timeZone);
    if (repeatedTime === 'once') this.wallClock = new WallClock(expression, timeZone);
  }

  get periodMs(): number | undefined {
    const first = this.next(this.now());
    return this.next(first) - first;
  }

  next(afterMs: number): number {
    let slot = this.cronNext(afterMs);
    for (let resume = this.resumeAfter(slot); resume !== undefined; resume = this.resumeAfter(slot)) slot = this.cronNext(resume);
    return slot;
  }

  /** For `repeatedTime: 'once'`: where to look again when `slot` is to be dropped, or undefined to keep it. */
  private resumeAfter(slot: number): number | undefined {
    return this.wallClock?.resumeAfter(slot, (after) => this.cronNext(after));
  }

  /** The slot the `cron` package gives (`repeatedTime: 'twice'`). */
  private cronNext(afterMs: number): number {
    // cron works in whole seconds: start from the second after `afterMs` so the slot is strictly later.
    const at = (from: number) => this.time.getNextDateFrom(new Date(Math.floor(from / 1000) * 1000 + 999), this.timeZone).toMillis();
    let slot = at(afterMs);
    // cron 4.4 can answer an earlier instant on the second pass of a repeated half hour
    // (Australia/Lord_Howe): look further on until the answer is later, past the repeat.
    for (let stepMs = 60_000; slot <= afterMs; stepMs *= 2) slot = at(afterMs + stepMs);
    return slot;
  }

  slotsBetween(afterMs: number, untilMs: number): { count: number; last: number } {
    let count = 0;
    let last = afterMs;
    for (let slot = this.next(afterMs); slot <= untilMs && count < MAX_COUNTED_CRON_SLOTS; slot = this.next(slot)) {
      count++;
      last = slot;
    }
    return { count, last };
  }

  lastSlots(afterMs: number, untilMs: number, n: number): number[] {
    const kept: number[] = [];
    let count = 0;
    for (let slot = this.next(afterMs); slot <= untilMs && count < MAX_COUNTED_CRON_SLOTS && n > 0; slot = this.next(slot), count++) {
      if (kept.push(slot) > n) kept.shift();
    }
    return kept;
  }

  describe(): string {
    return this.timeZone ? `cron ${this.expression} (${this.timeZone})` : `cron ${this.expression}`;
  }
}

const HOUR_MS = 3_600_000;

/**
 * Local wall-clock time in a zone, to run a repeated (fall-back) time once. Slots are whole seconds,
 * so wall time and UTC offset are read to the second.
 */
class WallClock {
  private readonly format: Intl.DateTimeFormat;
  /** The expression read in UTC: matches a wall-clock time field by field, with no DST in the way. */
  private readonly fields: CronTime;

  constructor(expression: string, timeZone?: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    this.fields = new CronTime(expression, 'UTC');
  }

  /**
   * Where to look for the next slot when `slot` is to be dropped (undefined: keep it): a slot of the
   * second pass of a repeated (fall-back) hour whose wall-clock time had a slot on the first pass
   * (then the rest of the second pass goes too), or the extra slot cron 4.4 puts an hour early for
   * a time just after the repeated hour (`0 0 3 * * *` in Europe/Berlin also fires at 02:00 CET).
   */
  resumeAfter(slot: number, cronNext: (afterMs: number) => number): number | undefined {
    const backMs = this.offsetMs(slot - 2 * HOUR_MS) - this.offsetMs(slot); // > 0 just after a fall-back
    if (backMs <= 0) return undefined;
    const firstPass = slot - backMs;
    if (this.wallMs(firstPass) === this.wallMs(slot) && cronNext(firstPass - 1000) === firstPass) return this.secondPassEnd(slot, backMs) - 1000;
    return this.matches(slot) ? undefined : slot;
  }

  /** The first whole second after `slot` whose wall-clock time did not occur `backMs` earlier. */
  private secondPassEnd(slot: number, backMs: number): number {
    let [low, high] = [slot / 1000, (slot + backMs) / 1000]; // repeated at low, not at high
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (this.wallMs(mid * 1000 - backMs) === this.wallMs(mid * 1000)) low = mid;
      else high = mid;
    }
    return high * 1000;
  }

  /** The wall-clock time of `ms`, written as if it were UTC. */
  private wallMs(ms: number): number {
    const part: Record<string, number> = {};
    for (const { type, value } of this.format.formatToParts(ms)) part[type] = Number(value);
    return Date.UTC(part.year!, part.month! - 1, part.day, part.hour, part.minute, part.second);
  }

  private offsetMs(ms: number): number {
    return this.wallMs(ms) - Math.floor(ms / 1000) * 1000;
  }

  /** Whether the expression names the wall-clock time of `slot`. */
  private matches(slot: number): boolean {
    const wall = this.wallMs(slot);
    return this.fields.getNextDateFrom(new Date(wall - 1), 'UTC').toMillis() === wall;
  }
}
