import { CronTime } from 'cron';
import { AMBIGUOUS_SCHEDULE, INVALID_CRON, INVALID_PERIOD, INVALID_TIME_ZONE } from '../hosting.messages.js';
import { describeDuration, isDuration, OptionsValidator, type DurationRule } from '../validation/options-validator.js';
import type { PeriodicSchedule, PeriodicTaskOptions } from '../interfaces/periodic-options.interface.js';
import { CronSchedule, FixedRateSchedule, type RepeatedTime, type Schedule } from './schedule.js';
import { onWholeWallMs, type TimeProvider } from '../time/time-provider.js';

/** A validated `@Periodic` task, ready to be given a schedule when the host starts. */
export interface PeriodicTaskDefinition {
  name: string;
  /** `ClassName.methodName`, for messages. */
  owner: string;
  runOnStart: boolean;
  jitterMs: number;
  /** The task's own `spreadMs`; unset: the host's default. */
  spreadMs?: number;
  timeoutMs?: number;
  exclusive: boolean;
  /** The first tick's delay after start-up (see `PeriodicTaskOptions.initialDelayMs`). */
  initialDelayMs?: number;
  /** False: the task is listed as disabled and never started. */
  enabled: boolean;
  /** What slots that passed without a run do (`PeriodicTaskOptions.onMissed`). */
  onMissed: MissedPolicy;
  /** Missed-run alert budget (`PeriodicTaskOptions.staleAfterMs`): unset for the host's default, false for none. */
  staleAfterMs?: number | false;
  /**
   * The task's schedule on `time`: an interval grid on the monotonic clock from `originMs` (a
   * monotonic instant on a whole wall-clock millisecond, `onWholeWallMs`; unset: now), or (for an
   * exclusive task, whose instances must agree on the slots) anchored at epoch 0 on the wall clock.
   */
  createSchedule(time: TimeProvider, originMs?: number): Schedule;
}

const TASK_KEYS = ['name', 'runOnStart', 'timeoutMs', 'jitterMs', 'spreadMs', 'exclusive', 'initialDelayMs', 'enabled', 'onMissed', 'staleAfterMs'] as const;
const SCHEDULE_KEYS = ['every', 'cron', 'timeZone', 'repeatedTime', ...TASK_KEYS] as const;
const REPEATED_TIMES: readonly RepeatedTime[] = ['twice', 'once'];
const PERIOD: DurationRule = { positive: true };
const STALE_AFTER: DurationRule = { positive: true };

/**
 * Validates what `@Periodic` was given; throws a TypeError naming `owner`, the option and the bad
 * value (unknown keys with the closest known one). `where` starts each message (a task added at
 * run time: `HostingRegistry.addPeriodic("name")`).
 */
export function definePeriodicTask(
  owner: string,
  schedule: PeriodicSchedule,
  extra: PeriodicTaskOptions = {},
  where = `@Periodic on ${owner}`,
): PeriodicTaskDefinition {
  const isObject = typeof schedule === 'object' && schedule !== null;
  if (isObject) OptionsValidator.for(where, schedule, SCHEDULE_KEYS);
  OptionsValidator.for(where, extra, TASK_KEYS);
  const options: PeriodicTaskOptions & { every?: unknown; cron?: unknown; timeZone?: unknown; repeatedTime?: unknown } = isObject ? { ...schedule, ...extra } : { ...extra };
  const check = OptionsValidator.for(where, options, SCHEDULE_KEYS);

  check.nonEmptyString('name');
  check.boolean('runOnStart');
  check.boolean('exclusive');
  check.duration('timeoutMs', { min: 1 });
  check.duration('jitterMs');
  const spreadMs = check.duration('spreadMs');
  check.boolean('enabled');
  const onMissed = missedPolicy(check);
  const staleAfterMs = check.check<number | false>('staleAfterMs', (v) => v === false || isDuration(v, STALE_AFTER), `${describeDuration(STALE_AFTER)}, or false`);
  const initialDelayMs = check.duration('initialDelayMs');
  if (initialDelayMs !== undefined && options.runOnStart === true)
    check.fail('initialDelayMs', 'unset when runOnStart is true (runOnStart runs the first tick at once; initialDelayMs delays it: choose one)');

  let createSchedule: (time: TimeProvider, originMs?: number) => Schedule;
  const exclusive = options.exclusive ?? false;
  const everyMs = (period: number) => (time: TimeProvider, originMs?: number) =>
    exclusive ? new FixedRateSchedule(period, 0, 'wall') : new FixedRateSchedule(period, originMs ?? onWholeWallMs(time, time.monotonic()));
  if (!isObject) {
    if (!isDuration(schedule, PERIOD)) throw new TypeError(INVALID_PERIOD(owner, schedule, where));
    createSchedule = everyMs(schedule);
  } else if ('every' in options && options.cron === undefined) {
    const every = options.every;
    if (!isDuration(every, PERIOD)) throw new TypeError(INVALID_PERIOD(owner, every, where));
    if (options.timeZone !== undefined) check.fail('timeZone', 'unset on an { every } schedule (it applies to cron schedules)');
    if (options.repeatedTime !== undefined) check.fail('repeatedTime', 'unset on an { every } schedule (it applies to cron schedules)');
    createSchedule = everyMs(every);
  } else if ('cron' in options && options.every === undefined) {
    const { cron, timeZone } = options;
    if (typeof cron !== 'string') throw new TypeError(INVALID_CRON(owner, cron, 'expected a string', where));
    const validity = CronTime.validateCronExpression(cron);
    if (!validity.valid) throw new TypeError(INVALID_CRON(owner, cron, validity.error?.message ?? 'not a cron expression', where));
    if (timeZone !== undefined && !isTimeZone(timeZone)) throw new TypeError(INVALID_TIME_ZONE(owner, timeZone, where));
    const zone = timeZone as string | undefined;
    const repeatedTime = check.oneOf('repeatedTime', REPEATED_TIMES);
    try {
      new CronSchedule(cron, zone).next(Date.now());
    } catch {
      throw new TypeError(INVALID_CRON(owner, cron, 'it never fires: no date matches it within the next 8 years', where));
    }
    createSchedule = (time) => Object.assign(new CronSchedule(cron, zone, repeatedTime), { now: () => time.now() });
  } else {
    throw new TypeError(AMBIGUOUS_SCHEDULE(owner, schedule, where));
  }

  return {
    name: options.name ?? owner,
    owner,
    runOnStart: options.runOnStart ?? false,
    jitterMs: options.jitterMs ?? 0,
    spreadMs,
    timeoutMs: options.timeoutMs,
    exclusive,
    initialDelayMs,
    enabled: options.enabled ?? true,
    onMissed,
    staleAfterMs,
    createSchedule,
  };
}

/** `@Periodic({ onMissed })`. */
export type MissedPolicy = NonNullable<PeriodicTaskOptions['onMissed']>;

const MISSED_POLICIES = ['coalesce', 'skip'] as const;
const CATCH_UP_KEYS = ['catchUp', 'windowMs'] as const;
const MISSED_POLICY = "'coalesce', 'skip' or { catchUp, windowMs }";

/** `onMissed`: one of the named policies, or a catch-up with both of its keys. */
function missedPolicy(check: OptionsValidator): MissedPolicy {
  const given = check.get('onMissed');
  if (given === undefined) return 'coalesce';
  if (typeof given === 'string') return check.oneOf('onMissed', MISSED_POLICIES) ?? 'coalesce';
  if (typeof given !== 'object' || given === null || Array.isArray(given)) check.fail('onMissed', MISSED_POLICY);
  const catchUp = check.nested('onMissed', CATCH_UP_KEYS);
  const count = catchUp.positiveInteger('catchUp') ?? catchUp.fail('catchUp', 'a positive integer (how many missed slots to run)');
  const windowMs = catchUp.duration('windowMs', { positive: true }) ?? catchUp.fail('windowMs', `${describeDuration({ positive: true })} (how late a missed slot may still run)`);
  return { catchUp: count, windowMs };
}

/** An IANA time zone name that both Intl and the `cron` package accept. */
function isTimeZone(value: unknown): value is string {
  if (typeof value !== 'string' || !value) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    new CronTime('* * * * *', value);
    return true;
  } catch {
    return false;
  }
}
