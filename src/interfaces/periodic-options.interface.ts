/** Options shared by every kind of `@Periodic` schedule. */
export interface PeriodicTaskOptions {
  /** Name in logs and in `HostingRegistry`. @default `ClassName.methodName` */
  name?: string;
  /** Run once right at start-up instead of waiting for the first period (PeriodicTimer waits). @default false */
  runOnStart?: boolean;
  /** Abort the tick's `signal` after this many milliseconds. The next tick still waits for the run to settle. */
  timeoutMs?: number;
  /** Delay each tick by a random 0..jitterMs, so that replicas do not fire at the same instant. @default 0 */
  jitterMs?: number;
  /** One run per tick across all instances of the app (needs the distributed backend). @default false */
  exclusive?: boolean;
}

/** A fixed-rate schedule: ticks at `t0 + k·every`. */
export interface EverySchedule extends PeriodicTaskOptions {
  /** Period in milliseconds; above 2^31−1 is fine. */
  every: number;
}

/** A cron schedule, as `@nestjs/schedule` and the `cron` package read it (seconds field optional). */
export interface CronSchedule extends PeriodicTaskOptions {
  /** Cron expression, e.g. `'0 *\/5 * * * *'` or a `CronExpression` constant from `@nestjs/schedule`. */
  cron: string;
  /** IANA time zone the expression is read in. @default the process's time zone */
  timeZone?: string;
}

/** The first argument of `@Periodic`. */
export type PeriodicSchedule = number | EverySchedule | CronSchedule;
