import { CronTime } from 'cron';
import { AMBIGUOUS_SCHEDULE, INVALID_CRON, INVALID_PERIOD, INVALID_TIME_ZONE } from '../hosting.messages.js';
import { isDuration, OptionsValidator, type DurationRule } from '../validation/options-validator.js';
import type { PeriodicSchedule, PeriodicTaskOptions } from '../interfaces/periodic-options.interface.js';
import { CronSchedule, FixedRateSchedule, type Schedule } from './schedule.js';

/** A validated `@Periodic` task, ready to be given a schedule when the host starts. */
export interface PeriodicTaskDefinition {
  name: string;
  /** `ClassName.methodName`, for messages. */
  owner: string;
  runOnStart: boolean;
  jitterMs: number;
  timeoutMs?: number;
  exclusive: boolean;
  /** A schedule whose fixed-rate grid starts at `nowMs`. */
  createSchedule(nowMs: number): Schedule;
}

const TASK_KEYS = ['name', 'runOnStart', 'timeoutMs', 'jitterMs', 'exclusive'] as const;
const SCHEDULE_KEYS = ['every', 'cron', 'timeZone', ...TASK_KEYS] as const;
const PERIOD: DurationRule = { positive: true };

/**
 * Validates what `@Periodic` was given; throws a TypeError naming `owner`, the option and the bad
 * value (unknown keys with the closest known one).
 */
export function definePeriodicTask(owner: string, schedule: PeriodicSchedule, extra: PeriodicTaskOptions = {}): PeriodicTaskDefinition {
  const where = `@Periodic on ${owner}`;
  const isObject = typeof schedule === 'object' && schedule !== null;
  if (isObject) OptionsValidator.for(where, schedule, SCHEDULE_KEYS);
  OptionsValidator.for(where, extra, TASK_KEYS);
  const options: PeriodicTaskOptions & { every?: unknown; cron?: unknown; timeZone?: unknown } = isObject ? { ...schedule, ...extra } : { ...extra };
  const check = OptionsValidator.for(where, options, SCHEDULE_KEYS);

  check.nonEmptyString('name');
  check.boolean('runOnStart');
  check.boolean('exclusive');
  check.duration('timeoutMs', { min: 1 });
  check.duration('jitterMs');

  let createSchedule: (nowMs: number) => Schedule;
  if (!isObject) {
    if (!isDuration(schedule, PERIOD)) throw new TypeError(INVALID_PERIOD(owner, schedule));
    createSchedule = (now) => new FixedRateSchedule(schedule, now);
  } else if ('every' in options && options.cron === undefined) {
    const every = options.every;
    if (!isDuration(every, PERIOD)) throw new TypeError(INVALID_PERIOD(owner, every));
    if (options.timeZone !== undefined) check.fail('timeZone', 'unset on an { every } schedule (it applies to cron schedules)');
    createSchedule = (now) => new FixedRateSchedule(every, now);
  } else if ('cron' in options && options.every === undefined) {
    const { cron, timeZone } = options;
    if (typeof cron !== 'string') throw new TypeError(INVALID_CRON(owner, cron, 'expected a string'));
    const validity = CronTime.validateCronExpression(cron);
    if (!validity.valid) throw new TypeError(INVALID_CRON(owner, cron, validity.error?.message ?? 'not a cron expression'));
    if (timeZone !== undefined && !isTimeZone(timeZone)) throw new TypeError(INVALID_TIME_ZONE(owner, timeZone));
    const zone = timeZone as string | undefined;
    try {
      new CronSchedule(cron, zone).next(Date.now());
    } catch {
      throw new TypeError(INVALID_CRON(owner, cron, 'it never fires: no date matches it within the next 8 years'));
    }
    createSchedule = () => new CronSchedule(cron, zone);
  } else {
    throw new TypeError(AMBIGUOUS_SCHEDULE(owner, schedule));
  }

  return {
    name: options.name ?? owner,
    owner,
    runOnStart: options.runOnStart ?? false,
    jitterMs: options.jitterMs ?? 0,
    timeoutMs: options.timeoutMs,
    exclusive: options.exclusive ?? false,
    createSchedule,
  };
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
