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
  /**
   * Spread tasks that share a schedule: each tick is delayed by a stable offset in [0, spreadMs),
   * derived from the task's name (the same in every process and after every restart), so that
   * thousands of tasks on one period do not all fire in the same millisecond. `ctx.scheduledAt` stays
   * the slot on the grid; the run starts the offset after it. The offset is kept below the gap to the
   * next slot, so a spread tick is never counted as missed. `0` turns it off for this task.
   * @default `HostingOptions.spreadMs` (0: off)
   */
  spreadMs?: number;
  /** One run per tick across all instances of the app (needs the distributed backend). @default false */
  exclusive?: boolean;
  /**
   * What slots that passed without a run do: slots a long tick overran, slots a late timer passed
   * (a blocked event loop, a wall clock set forward, a machine that slept, for cron) and, for an
   * `exclusive` task, slots the whole cluster missed while it was down. A slot whose timer fires
   * late with no later slot passed yet is merely late, not missed: it runs (a catch-up runs it
   * only inside its window). Slots passed while the task was paused are neither run nor counted.
   * `missedTicks` (status) counts the slots that got no run of their own; `ctx.missedTicks` the
   * ones since the previous scheduled run.
   * - `'coalesce'` (.NET PeriodicTimer): the slots fold into one immediate run, scheduled at the
   *   last of them; all but that one are counted as missed.
   * - `'skip'` (`@nestjs/schedule` cron, Quartz's do-nothing): none of them runs, not even the one
   *   a long tick overran; the task waits for the next slot on the grid. Every one is counted.
   * - `{ catchUp, windowMs }` (Temporal's catch-up window): the latest `catchUp` of them that are
   *   at most `windowMs` (plus `jitterMs`) old run one after another, oldest first, each with its
   *   own `ctx.scheduledAt`; the older ones are dropped and counted. Slots that pass during the
   *   catch-up are judged the same way, so the task is never more than `catchUp` slots behind.
   *
   * An exclusive task keeps its last run slot in Redis (written when a run settles, kept for 30
   * days or two periods, plus `windowMs`). When an instance starts, `'coalesce'` and a catch-up
   * look at it: slots passed since then are run as the policy says (`'coalesce'`: one run, at the
   * last of them), each claimed like a scheduled slot, so instances starting together run a slot
   * once. With no record (a task never run, or only by a version without it) nothing runs at
   * start, as before. `'skip'` and `runOnStart` do not look.
   * @default 'coalesce'
   * @example
   * ```ts
   * // The nightly export runs once when the cluster returns, if it was down at 02:00 (up to 12 h late).
   * @Periodic({ cron: '0 0 2 * * *', exclusive: true, onMissed: { catchUp: 1, windowMs: 12 * 3_600_000 } })
   * async nightlyExport(ctx: TickContext) {}
   * ```
   */
  onMissed?: 'coalesce' | 'skip' | { catchUp: number; windowMs: number };
  /**
   * Delay the first tick: an interval task first runs `initialDelayMs` after start-up, then every
   * period after that run's slot (the grid starts there); a cron task (and an exclusive interval
   * task, whose grid is shared by all instances) first runs at its first slot at or after start-up
   * plus `initialDelayMs`, then on its schedule. Slots before it are not counted as missed.
   * Cannot be combined with `runOnStart: true` (which runs the first tick at once).
   * @default unset: the first tick is one period after start-up (or the first cron slot)
   */
  initialDelayMs?: number;
  /**
   * `false`: the task does not run in this process; it is listed in `HostingRegistry` with state
   * `'disabled'` (health ignores it). See also `HostingOptions.enabled` for all tasks at once.
   * @default true
   */
  enabled?: boolean;
  /**
   * Missed-run alert: how long after its last successful run (or, before its first, after the task
   * started) the task must have succeeded again; past that it is `late` in its status, one warning
   * is logged, and `HostingHealthIndicator.isReady({ criticalTasks })` can take the instance out of
   * rotation. `false`: never late. For an `exclusive` task, a success on any instance counts.
   * @default unset: `HostingOptions.staleAfterPeriods` slots of its schedule (2 by default) plus its `timeoutMs`
   */
  staleAfterMs?: number | false;
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
  /**
   * What a wall-clock time that the fall-back day repeats does (01:00–01:59 in America/New_York,
   * 02:00–02:59 in Europe/Berlin): `'twice'` runs it at both instants, as the `cron` package and
   * `@nestjs/schedule` do (an hourly or `*\/30` job, and a daily 03:00 job in Berlin, which cron
   * also runs at 02:00 CET); `'once'` runs only the first instant, and a daily job at its own
   * time only. The spring-forward day is the same either way: a time in the missing hour runs
   * at its end (03:00), once.
   * @default 'twice'
   * @example
   * ```ts
   * @Periodic({ cron: '0 30 1 * * *', timeZone: 'America/New_York', repeatedTime: 'once' })
   * async nightly() {}
   * ```
   */
  repeatedTime?: 'twice' | 'once';
}

/** The first argument of `@Periodic`. */
export type PeriodicSchedule = number | EverySchedule | CronSchedule;
