import { CronTime } from 'cron';

/** Where the slots of a periodic task fall in time. Plain arithmetic, no timers. */
export interface Schedule {
  /** The first slot strictly after `afterMs` (epoch milliseconds). */
  next(afterMs: number): number;
  /** How many slots fall in (`afterMs`, `untilMs`], and the last of them. */
  slotsBetween(afterMs: number, untilMs: number): { count: number; last: number };
  /** The schedule as a user wrote it: `'every 60000 ms'` or the cron expression. */
  describe(): string;
  /** The nominal period in milliseconds, when the schedule has one (used to judge overdue tasks). */
  readonly periodMs?: number;
}

/** Fixed-rate slots at `anchorMs + k·periodMs`, as .NET's PeriodicTimer (no drift). */
export class FixedRateSchedule implements Schedule {
  constructor(
    readonly periodMs: number,
    private readonly anchorMs: number,
  ) {}

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

  describe(): string {
    return `every ${this.periodMs} ms`;
  }
}

/** Cap on slots counted one by one for cron schedules (a run overrunning a per-second cron for hours). */
const MAX_COUNTED_CRON_SLOTS = 100_000;

/** Cron slots, computed by the `cron` package (the one `@nestjs/schedule` uses), so both agree. */
export class CronSchedule implements Schedule {
  private readonly time: CronTime;

  /** Throws the `cron` package's error for an invalid expression or time zone. */
  constructor(
    private readonly expression: string,
    private readonly timeZone?: string,
  ) {
    this.time = new CronTime(expression, timeZone);
  }

  get periodMs(): number | undefined {
    const first = this.next(Date.now());
    return this.next(first) - first;
  }

  next(afterMs: number): number {
    // cron works in whole seconds: start from the second after `afterMs` so the slot is strictly later.
    const from = Math.floor(afterMs / 1000) * 1000 + 999;
    return this.time.getNextDateFrom(new Date(from), this.timeZone).toMillis();
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

  describe(): string {
    return this.timeZone ? `cron ${this.expression} (${this.timeZone})` : `cron ${this.expression}`;
  }
}
