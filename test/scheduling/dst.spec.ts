import { Injectable } from '@nestjs/common';
import { CronTime } from 'cron';
import { Periodic } from '../../src/index.js';
import { INVALID_OPTION, UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { CronSchedule, type RepeatedTime } from '../../src/scheduling/schedule.js';

/**
 * What cron schedules do on the days clocks change, measured on CronSchedule (the `cron` package 4.4
 * underneath) in 2026. Each slot reads `<UTC instant> <local wall time><UTC offset>`.
 */
const BERLIN = 'Europe/Berlin'; // spring 2026-03-29 02:00→03:00, fall 2026-10-25 03:00→02:00
const NEW_YORK = 'America/New_York'; // spring 2026-03-08 02:00→03:00, fall 2026-11-01 02:00→01:00
const SYDNEY = 'Australia/Sydney'; // spring 2026-10-04 02:00→03:00 (southern hemisphere)

/** Local midnight to 06:00 of each DST day, as UTC instants. */
const NIGHT = {
  berlinSpring: ['2026-03-28T23:00:00Z', '2026-03-29T04:00:00Z'],
  berlinFall: ['2026-10-24T22:00:00Z', '2026-10-25T05:00:00Z'],
  newYorkSpring: ['2026-03-08T05:00:00Z', '2026-03-08T10:00:00Z'],
  newYorkFall: ['2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z'],
  sydneySpring: ['2026-10-03T14:00:00Z', '2026-10-03T19:00:00Z'],
} as const;

/** The local wall time and offset of `ms` in `zone`: `03:00+02:00`. */
function local(ms: number, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(ms)
      .map((p) => [p.type, Number(p.value)]),
  ) as Record<string, number>;
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day, parts.hour, parts.minute, parts.second);
  const offsetMin = (wall - ms) / 60_000;
  const sign = offsetMin < 0 ? '-' : '+';
  const pad = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const seconds = parts.second ? `:${pad(parts.second)}` : '';
  return `${pad(parts.hour!)}:${pad(parts.minute!)}${seconds}${sign}${pad(Math.trunc(offsetMin / 60))}:${pad(offsetMin % 60)}`;
}

/** Every slot in (`from`, `until`], through `next`, checked against `slotsBetween`. */
function slots(schedule: CronSchedule, zone: string, [from, until]: readonly [string, string]): string[] {
  const fromMs = Date.parse(from);
  const untilMs = Date.parse(until);
  const found: number[] = [];
  for (let slot = schedule.next(fromMs); slot <= untilMs; slot = schedule.next(slot)) {
    if (slot <= (found.at(-1) ?? fromMs)) throw new Error(`next() went back to ${new Date(slot).toISOString()} after ${found.map((ms) => new Date(ms).toISOString()).join(', ')}`);
    found.push(slot);
  }
  expect(schedule.slotsBetween(fromMs, untilMs)).toEqual({ count: found.length, last: found.at(-1) ?? fromMs });
  return found.map((ms) => `${new Date(ms).toISOString()} ${local(ms, zone)}`);
}

type Row = [expression: string, night: keyof typeof NIGHT, expected: string[]];

const SPRING: Row[] = [
  // A daily time inside the missing hour runs at its end, 03:00 (not 03:30).
  ['0 30 2 * * *', 'berlinSpring', ['2026-03-29T01:00:00.000Z 03:00+02:00']],
  ['0 30 2 * * *', 'newYorkSpring', ['2026-03-08T07:00:00.000Z 03:00-04:00']],
  // Exactly at the boundary (5 fields, as @nestjs/schedule users write it).
  ['0 2 * * *', 'berlinSpring', ['2026-03-29T01:00:00.000Z 03:00+02:00']],
  ['0 0 2 * * *', 'newYorkSpring', ['2026-03-08T07:00:00.000Z 03:00-04:00']],
  // Before the gap, after it: untouched.
  ['0 30 1 * * *', 'berlinSpring', ['2026-03-29T00:30:00.000Z 01:30+01:00']],
  ['0 59 1 * * *', 'newYorkSpring', ['2026-03-08T06:59:00.000Z 01:59-05:00']],
  ['0 0 4 * * *', 'berlinSpring', ['2026-03-29T02:00:00.000Z 04:00+02:00']],
  ['0 0 4 * * *', 'newYorkSpring', ['2026-03-08T08:00:00.000Z 04:00-04:00']],
  // Several slots of the missing hour all land on 03:00, and run there once (merged with 03:00's own).
  ['0 0,30 2 * * *', 'berlinSpring', ['2026-03-29T01:00:00.000Z 03:00+02:00']],
  [
    '0 */30 1-3 * * *',
    'berlinSpring',
    ['2026-03-29T00:00:00.000Z 01:00+01:00', '2026-03-29T00:30:00.000Z 01:30+01:00', '2026-03-29T01:00:00.000Z 03:00+02:00', '2026-03-29T01:30:00.000Z 03:30+02:00'],
  ],
  [
    '0 */30 1-3 * * *',
    'newYorkSpring',
    ['2026-03-08T06:00:00.000Z 01:00-05:00', '2026-03-08T06:30:00.000Z 01:30-05:00', '2026-03-08T07:00:00.000Z 03:00-04:00', '2026-03-08T07:30:00.000Z 03:30-04:00'],
  ],
  [
    '0 */15 1-3 * * *',
    'newYorkSpring',
    [
      '2026-03-08T06:00:00.000Z 01:00-05:00',
      '2026-03-08T06:15:00.000Z 01:15-05:00',
      '2026-03-08T06:30:00.000Z 01:30-05:00',
      '2026-03-08T06:45:00.000Z 01:45-05:00',
      '2026-03-08T07:00:00.000Z 03:00-04:00',
      '2026-03-08T07:15:00.000Z 03:15-04:00',
      '2026-03-08T07:30:00.000Z 03:30-04:00',
      '2026-03-08T07:45:00.000Z 03:45-04:00',
    ],
  ],
  // Hourly: the 02:00 slot merges into 03:00; 23 runs that day.
  [
    '0 0 * * * *',
    'berlinSpring',
    ['2026-03-29T00:00:00.000Z 01:00+01:00', '2026-03-29T01:00:00.000Z 03:00+02:00', '2026-03-29T02:00:00.000Z 04:00+02:00', '2026-03-29T03:00:00.000Z 05:00+02:00', '2026-03-29T04:00:00.000Z 06:00+02:00'],
  ],
  // Hourly at :30: 02:30 moves to 03:00, so 03:00 and 03:30 both run, 30 minutes apart.
  [
    '0 30 * * * *',
    'newYorkSpring',
    ['2026-03-08T05:30:00.000Z 00:30-05:00', '2026-03-08T06:30:00.000Z 01:30-05:00', '2026-03-08T07:00:00.000Z 03:00-04:00', '2026-03-08T07:30:00.000Z 03:30-04:00', '2026-03-08T08:30:00.000Z 04:30-04:00', '2026-03-08T09:30:00.000Z 05:30-04:00'],
  ],
  // Southern hemisphere: cron keeps the minute, 02:30 runs at 03:30.
  ['0 30 2 * * *', 'sydneySpring', ['2026-10-03T16:30:00.000Z 03:30+11:00']],
];

const zoneOf = (night: keyof typeof NIGHT) => (night.startsWith('berlin') ? BERLIN : night.startsWith('newYork') ? NEW_YORK : SYDNEY);

describe('cron schedules on the spring-forward day (the same with either repeatedTime)', () => {
  it.each(SPRING)('%s on %s', (expression, night, expected) => {
    const zone = zoneOf(night);
    expect(slots(new CronSchedule(expression, zone), zone, NIGHT[night])).toEqual(expected);
    expect(slots(new CronSchedule(expression, zone, 'once'), zone, NIGHT[night])).toEqual(expected);
  });

  it('a per-second job goes from 01:59:59 to 03:00:00: one run a second of real time', () => {
    const schedule = new CronSchedule('* * * * * *', BERLIN);
    expect(slots(schedule, BERLIN, ['2026-03-29T00:59:58Z', '2026-03-29T01:00:01Z'])).toEqual([
      '2026-03-29T00:59:59.000Z 01:59:59+01:00',
      '2026-03-29T01:00:00.000Z 03:00+02:00',
      '2026-03-29T01:00:01.000Z 03:00:01+02:00',
    ]);
    // 01:30 to 03:30 wall-clock time is one hour.
    expect(schedule.slotsBetween(Date.parse('2026-03-29T00:30:00Z'), Date.parse('2026-03-29T01:30:00Z'))).toEqual({ count: 3600, last: Date.parse('2026-03-29T01:30:00Z') });
  });
});

/** Fall-back rows: what cron does ('twice', the default) and what `repeatedTime: 'once'` does. */
type FallRow = [expression: string, night: keyof typeof NIGHT, twice: string[], once: string[]];

const BERLIN_HALF_HOURS = [
  '2026-10-24T23:00:00.000Z 01:00+02:00',
  '2026-10-24T23:30:00.000Z 01:30+02:00',
  '2026-10-25T00:00:00.000Z 02:00+02:00',
  '2026-10-25T00:30:00.000Z 02:30+02:00',
  '2026-10-25T01:00:00.000Z 02:00+01:00',
  '2026-10-25T01:30:00.000Z 02:30+01:00',
  '2026-10-25T02:00:00.000Z 03:00+01:00',
  '2026-10-25T02:30:00.000Z 03:30+01:00',
];
const NEW_YORK_HALF_HOURS = [
  '2026-11-01T05:00:00.000Z 01:00-04:00',
  '2026-11-01T05:30:00.000Z 01:30-04:00',
  '2026-11-01T06:00:00.000Z 01:00-05:00',
  '2026-11-01T06:30:00.000Z 01:30-05:00',
  '2026-11-01T07:00:00.000Z 02:00-05:00',
  '2026-11-01T07:30:00.000Z 02:30-05:00',
  '2026-11-01T08:00:00.000Z 03:00-05:00',
  '2026-11-01T08:30:00.000Z 03:30-05:00',
];
/** The slots of the second pass of the repeated hour, which 'once' drops. */
const secondPass = (slot: string) => /\+01:00$/.test(slot) && / 02:/.test(slot) || /-05:00$/.test(slot) && / 01:/.test(slot);

const FALL: FallRow[] = [
  // A daily time inside the repeated hour: cron runs it once already (the first pass).
  ['0 30 2 * * *', 'berlinFall', ['2026-10-25T00:30:00.000Z 02:30+02:00'], ['2026-10-25T00:30:00.000Z 02:30+02:00']],
  ['0 30 1 * * *', 'newYorkFall', ['2026-11-01T05:30:00.000Z 01:30-04:00'], ['2026-11-01T05:30:00.000Z 01:30-04:00']],
  ['0 2 * * *', 'berlinFall', ['2026-10-25T00:00:00.000Z 02:00+02:00'], ['2026-10-25T00:00:00.000Z 02:00+02:00']],
  // A daily time in the hour just after the repeated one: cron also runs it an hour early, on the second pass.
  ['0 0 3 * * *', 'berlinFall', ['2026-10-25T01:00:00.000Z 02:00+01:00', '2026-10-25T02:00:00.000Z 03:00+01:00'], ['2026-10-25T02:00:00.000Z 03:00+01:00']],
  ['0 30 2 * * *', 'newYorkFall', ['2026-11-01T06:30:00.000Z 01:30-05:00', '2026-11-01T07:30:00.000Z 02:30-05:00'], ['2026-11-01T07:30:00.000Z 02:30-05:00']],
  ['0 0 2 * * *', 'newYorkFall', ['2026-11-01T06:00:00.000Z 01:00-05:00', '2026-11-01T07:00:00.000Z 02:00-05:00'], ['2026-11-01T07:00:00.000Z 02:00-05:00']],
  // Two hours after the change: untouched.
  ['0 0 4 * * *', 'berlinFall', ['2026-10-25T03:00:00.000Z 04:00+01:00'], ['2026-10-25T03:00:00.000Z 04:00+01:00']],
  ['0 0 3 * * *', 'newYorkFall', ['2026-11-01T08:00:00.000Z 03:00-05:00'], ['2026-11-01T08:00:00.000Z 03:00-05:00']],
  // Every half hour in hours 1–3: the repeated hour runs twice with cron.
  ['0 */30 1-3 * * *', 'berlinFall', BERLIN_HALF_HOURS, BERLIN_HALF_HOURS.filter((s) => !secondPass(s))],
  ['0 */30 1-3 * * *', 'newYorkFall', NEW_YORK_HALF_HOURS, NEW_YORK_HALF_HOURS.filter((s) => !secondPass(s))],
  // Only when the hour after the repeated one is in the expression too: a time in hour 1 alone runs once.
  [
    '0 */15 1 * * *',
    'newYorkFall',
    ['2026-11-01T05:00:00.000Z 01:00-04:00', '2026-11-01T05:15:00.000Z 01:15-04:00', '2026-11-01T05:30:00.000Z 01:30-04:00', '2026-11-01T05:45:00.000Z 01:45-04:00'],
    ['2026-11-01T05:00:00.000Z 01:00-04:00', '2026-11-01T05:15:00.000Z 01:15-04:00', '2026-11-01T05:30:00.000Z 01:30-04:00', '2026-11-01T05:45:00.000Z 01:45-04:00'],
  ],
  [
    '0 */15 1,2 * * *',
    'newYorkFall',
    [
      '2026-11-01T05:00:00.000Z 01:00-04:00',
      '2026-11-01T05:15:00.000Z 01:15-04:00',
      '2026-11-01T05:30:00.000Z 01:30-04:00',
      '2026-11-01T05:45:00.000Z 01:45-04:00',
      '2026-11-01T06:00:00.000Z 01:00-05:00',
      '2026-11-01T06:15:00.000Z 01:15-05:00',
      '2026-11-01T06:30:00.000Z 01:30-05:00',
      '2026-11-01T06:45:00.000Z 01:45-05:00',
      '2026-11-01T07:00:00.000Z 02:00-05:00',
      '2026-11-01T07:15:00.000Z 02:15-05:00',
      '2026-11-01T07:30:00.000Z 02:30-05:00',
      '2026-11-01T07:45:00.000Z 02:45-05:00',
    ],
    [
      '2026-11-01T05:00:00.000Z 01:00-04:00',
      '2026-11-01T05:15:00.000Z 01:15-04:00',
      '2026-11-01T05:30:00.000Z 01:30-04:00',
      '2026-11-01T05:45:00.000Z 01:45-04:00',
      '2026-11-01T07:00:00.000Z 02:00-05:00',
      '2026-11-01T07:15:00.000Z 02:15-05:00',
      '2026-11-01T07:30:00.000Z 02:30-05:00',
      '2026-11-01T07:45:00.000Z 02:45-05:00',
    ],
  ],
  // Hourly: 02:00 twice in Berlin (25 runs that day), 01:00 twice in New York.
  [
    '0 0 * * * *',
    'berlinFall',
    [
      '2026-10-24T23:00:00.000Z 01:00+02:00',
      '2026-10-25T00:00:00.000Z 02:00+02:00',
      '2026-10-25T01:00:00.000Z 02:00+01:00',
      '2026-10-25T02:00:00.000Z 03:00+01:00',
      '2026-10-25T03:00:00.000Z 04:00+01:00',
      '2026-10-25T04:00:00.000Z 05:00+01:00',
      '2026-10-25T05:00:00.000Z 06:00+01:00',
    ],
    [
      '2026-10-24T23:00:00.000Z 01:00+02:00',
      '2026-10-25T00:00:00.000Z 02:00+02:00',
      '2026-10-25T02:00:00.000Z 03:00+01:00',
      '2026-10-25T03:00:00.000Z 04:00+01:00',
      '2026-10-25T04:00:00.000Z 05:00+01:00',
      '2026-10-25T05:00:00.000Z 06:00+01:00',
    ],
  ],
  [
    '0 30 * * * *',
    'newYorkFall',
    [
      '2026-11-01T04:30:00.000Z 00:30-04:00',
      '2026-11-01T05:30:00.000Z 01:30-04:00',
      '2026-11-01T06:30:00.000Z 01:30-05:00',
      '2026-11-01T07:30:00.000Z 02:30-05:00',
      '2026-11-01T08:30:00.000Z 03:30-05:00',
      '2026-11-01T09:30:00.000Z 04:30-05:00',
      '2026-11-01T10:30:00.000Z 05:30-05:00',
    ],
    [
      '2026-11-01T04:30:00.000Z 00:30-04:00',
      '2026-11-01T05:30:00.000Z 01:30-04:00',
      '2026-11-01T07:30:00.000Z 02:30-05:00',
      '2026-11-01T08:30:00.000Z 03:30-05:00',
      '2026-11-01T09:30:00.000Z 04:30-05:00',
      '2026-11-01T10:30:00.000Z 05:30-05:00',
    ],
  ],
];

describe('cron schedules on the fall-back day', () => {
  it.each(FALL)("%s on %s, repeatedTime 'twice' (the default) and 'once'", (expression, night, twice, once) => {
    const zone = zoneOf(night);
    expect(slots(new CronSchedule(expression, zone), zone, NIGHT[night])).toEqual(twice);
    expect(slots(new CronSchedule(expression, zone, 'twice'), zone, NIGHT[night])).toEqual(twice);
    expect(slots(new CronSchedule(expression, zone, 'once'), zone, NIGHT[night])).toEqual(once);
  });

  it.each([
    ['twice', 7200],
    ['once', 3600],
  ] as [RepeatedTime, number][])("a per-second job with repeatedTime '%s' runs %d times from 02:30 CEST to 03:30 CET (two hours)", (repeatedTime, count) => {
    const schedule = new CronSchedule('* * * * * *', BERLIN, repeatedTime);
    const night = schedule.slotsBetween(Date.parse('2026-10-25T00:30:00Z'), Date.parse('2026-10-25T02:30:00Z'));
    expect(night).toEqual({ count, last: Date.parse('2026-10-25T02:30:00Z') });
  });

  it("repeatedTime 'once' resumes at the first second after the repeated hour", () => {
    const schedule = new CronSchedule('* * * * * *', BERLIN, 'once');
    expect(slots(schedule, BERLIN, ['2026-10-25T00:59:58Z', '2026-10-25T02:00:01Z'])).toEqual([
      '2026-10-25T00:59:59.000Z 02:59:59+02:00',
      '2026-10-25T02:00:00.000Z 03:00+01:00',
      '2026-10-25T02:00:01.000Z 03:00:01+01:00',
    ]);
  });

  it("repeatedTime 'once' skips the second pass even when the first one came before the schedule was asked", () => {
    // Started at 02:10 CET, on the second pass: 02:30 CEST is past, so 02:30 CET does not run again.
    const schedule = new CronSchedule('0 */30 * * * *', BERLIN, 'once');
    expect(new Date(schedule.next(Date.parse('2026-10-25T01:10:00Z'))).toISOString()).toBe('2026-10-25T02:00:00.000Z');
  });
});

describe('a zone whose clocks go back half an hour (Australia/Lord_Howe, 2026-04-05 02:00 → 01:30)', () => {
  it.each(['twice', 'once'] as RepeatedTime[])("slots only move forward (repeatedTime '%s')", (repeatedTime) => {
    // cron 4.4 alone answers 01:45+11:00 again after 01:30+10:30, going back in time.
    const zone = 'Australia/Lord_Howe';
    expect(slots(new CronSchedule('0 */15 1-2 * * *', zone, repeatedTime), zone, ['2026-04-04T13:30:00Z', '2026-04-04T16:00:00Z'])).toEqual([
      '2026-04-04T14:00:00.000Z 01:00+11:00',
      '2026-04-04T14:15:00.000Z 01:15+11:00',
      '2026-04-04T14:30:00.000Z 01:30+11:00',
      '2026-04-04T14:45:00.000Z 01:45+11:00',
      ...(repeatedTime === 'twice' ? ['2026-04-04T15:00:00.000Z 01:30+10:30'] : []),
      '2026-04-04T15:30:00.000Z 02:00+10:30',
      '2026-04-04T15:45:00.000Z 02:15+10:30',
      '2026-04-04T16:00:00.000Z 02:30+10:30',
    ]);
  });
});

describe('repeatedTime leaves every other day alone', () => {
  it.each([
    ['0 */15 * * * *', BERLIN],
    ['0 30 2 * * *', NEW_YORK],
    ['0 0 3 * * 0', BERLIN],
  ])("%s in %s: 'once' and the cron package agree over a year, outside the fall-back day", (expression, zone) => {
    const cron = new CronTime(expression, zone);
    const once = new CronSchedule(expression, zone, 'once');
    const fallDay = zone === BERLIN ? ['2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'] : ['2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'];
    const [fallStart, fallEnd] = fallDay.map(Date.parse) as [number, number];
    let checked = 0;
    for (let from = Date.parse('2026-01-01T00:00:00Z'); from < Date.parse('2027-01-01T00:00:00Z'); from += 7 * 3_600_000 + 1234) {
      const expected = cron.getNextDateFrom(new Date(Math.floor(from / 1000) * 1000 + 999), zone).toMillis();
      if (expected > fallStart && expected <= fallEnd) continue;
      expect(once.next(from)).toBe(expected);
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('the repeatedTime option is checked as the class is defined', () => {
  /** The TypeError thrown while `define` declares a decorated class. */
  function definitionError(define: () => unknown): Error {
    try {
      define();
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected the class definition to throw');
  }

  it.each([['sometimes'], ['ONCE'], [1], [true], [null]])('refuses %p, naming class, method, option and value', (value) => {
    const error = definitionError(() => {
      @Injectable()
      class NightlyJob {
        @Periodic({ cron: '0 30 1 * * *', timeZone: NEW_YORK, repeatedTime: value as never })
        run() {}
      }
      return NightlyJob;
    });
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(INVALID_OPTION('@Periodic', 'NightlyJob.run', 'repeatedTime', "one of 'twice', 'once'", value));
  });

  it('refuses it on an { every } schedule', () => {
    const error = definitionError(() => {
      @Injectable()
      class NightlyJob {
        @Periodic({ every: 60_000, repeatedTime: 'once' } as never)
        run() {}
      }
      return NightlyJob;
    });
    expect(error.message).toBe(INVALID_OPTION('@Periodic', 'NightlyJob.run', 'repeatedTime', 'unset on an { every } schedule (it applies to cron schedules)', 'once'));
  });

  it('suggests it for a misspelt key', () => {
    const error = definitionError(() => {
      @Injectable()
      class NightlyJob {
        @Periodic({ cron: '0 30 1 * * *', repeatedTimes: 'once' } as never)
        run() {}
      }
      return NightlyJob;
    });
    expect(error.message).toContain(UNKNOWN_OPTION('@Periodic on NightlyJob.run', 'repeatedTimes', 'repeatedTime', []).split(' (known')[0]);
  });

  it.each([['twice'], ['once'], [undefined]])('accepts %p on a cron schedule', (repeatedTime) => {
    @Injectable()
    class NightlyJob {
      @Periodic({ cron: '0 30 1 * * *', timeZone: NEW_YORK, repeatedTime: repeatedTime as RepeatedTime | undefined })
      run() {}
    }
    expect(NightlyJob).toBeDefined();
  });
});
