import { CronTime } from 'cron';
import {
  AMBIGUOUS_SCHEDULE,
  INVALID_CRON,
  INVALID_OPTION,
  INVALID_PERIOD,
  INVALID_TIME_ZONE,
} from '../hosting.messages.js';
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

const isPositiveFinite = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0;

function checkOption(owner: string, options: PeriodicTaskOptions, key: keyof PeriodicTaskOptions, ok: (v: unknown) => boolean, expected: string) {
  const value = options[key];
  if (value !== undefined && !ok(value)) throw new TypeError(INVALID_OPTION('@Periodic', owner, key, expected, value));
}

/** Validates what `@Periodic` was given; throws a TypeError naming `owner` and the bad value. */
export function definePeriodicTask(owner: string, schedule: PeriodicSchedule, extra: PeriodicTaskOptions = {}): PeriodicTaskDefinition {
  const options: PeriodicTaskOptions & { every?: unknown; cron?: unknown; timeZone?: unknown } =
    typeof schedule === 'object' && schedule !== null ? { ...schedule, ...extra } : { ...extra };

  checkOption(owner, options, 'name', (v) => typeof v === 'string' && v.length > 0, 'a non-empty string');
  checkOption(owner, options, 'runOnStart', (v) => typeof v === 'boolean', 'a boolean');
  checkOption(owner, options, 'exclusive', (v) => typeof v === 'boolean', 'a boolean');
  checkOption(owner, options, 'timeoutMs', isPositiveFinite, 'a positive number of milliseconds');
  checkOption(owner, options, 'jitterMs', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number of milliseconds >= 0');

  let createSchedule: (nowMs: number) => Schedule;
  if (typeof schedule !== 'object' || schedule === null) {
    if (!isPositiveFinite(schedule)) throw new TypeError(INVALID_PERIOD(owner, schedule));
    createSchedule = (now) => new FixedRateSchedule(schedule, now);
  } else if ('every' in options && options.cron === undefined) {
    const every = options.every;
    if (!isPositiveFinite(every)) throw new TypeError(INVALID_PERIOD(owner, every));
    createSchedule = (now) => new FixedRateSchedule(every, now);
  } else if ('cron' in options && options.every === undefined) {
    const { cron, timeZone } = options;
    if (typeof cron !== 'string') throw new TypeError(INVALID_CRON(owner, cron, 'expected a string'));
    const check = CronTime.validateCronExpression(cron);
    if (!check.valid) throw new TypeError(INVALID_CRON(owner, cron, check.error?.message ?? 'not a cron expression'));
    if (timeZone !== undefined) {
      try {
        new CronTime(cron, timeZone as string);
      } catch {
        throw new TypeError(INVALID_TIME_ZONE(owner, timeZone));
      }
    }
    createSchedule = () => new CronSchedule(cron, timeZone as string | undefined);
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
