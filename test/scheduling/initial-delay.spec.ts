import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, HostingRegistry, Periodic, TickContext, TimeProvider, type PeriodicSchedule, type PeriodicTaskOptions } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { INVALID_OPTION_AT } from '../../src/hosting.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** Starts a task with `schedule`/`options` on virtual time; returns the offsets (from T0) of its ticks' run and slot. */
async function run(schedule: PeriodicSchedule, options: PeriodicTaskOptions, advanceMs: number) {
  const time = new VirtualTime({ now: T0 });
  const seen: Array<{ at: number; slot: number; missed: number }> = [];
  @Injectable()
  class Job {
    @Periodic(schedule, options)
    tick(ctx: TickContext) {
      seen.push({ at: time.now() - T0, slot: ctx.scheduledAt.getTime() - T0, missed: ctx.missedTicks });
    }
  }
  const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot()], providers: [Job] })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .setLogger(new CaptureLogger())
    .compile();
  await moduleRef.init();
  try {
    const registry = moduleRef.get(HostingRegistry);
    const firstDue = registry.get('Job.tick')?.nextRunAt;
    await time.advance(advanceMs);
    return { seen, firstDue: firstDue && firstDue.getTime() - T0, status: registry.get('Job.tick')! };
  } finally {
    await moduleRef.close();
  }
}

describe('@Periodic initialDelayMs', () => {
  it('interval: the first tick is initialDelayMs after start-up, then every period after it', async () => {
    const { seen, firstDue, status } = await run(60_000, { initialDelayMs: 5_000 }, 130_000);
    expect(firstDue).toBe(5_000);
    expect(seen).toEqual([
      { at: 5_000, slot: 5_000, missed: 0 },
      { at: 65_000, slot: 65_000, missed: 0 },
      { at: 125_000, slot: 125_000, missed: 0 },
    ]);
    expect(status.missedTicks).toBe(0);
  });

  it('interval: a delay longer than the period counts no slot as missed', async () => {
    const { seen, status } = await run({ every: 1_000, initialDelayMs: 3_500 }, {}, 5_600);
    expect(seen.map((s) => s.at)).toEqual([3_500, 4_500, 5_500]);
    expect(status.missedTicks).toBe(0);
  });

  it('interval: initialDelayMs 0 runs the first tick at start-up, then every period', async () => {
    const { seen } = await run(1_000, { initialDelayMs: 0 }, 2_000);
    expect(seen.map((s) => s.at)).toEqual([0, 1_000, 2_000]);
  });

  it('cron: the first run is the first slot at or after start-up plus initialDelayMs, then the schedule', async () => {
    const everyMinute = { cron: '0 * * * * *', timeZone: 'UTC' };
    const late = await run(everyMinute, { initialDelayMs: 90_000 }, 200_000);
    expect(late.firstDue).toBe(120_000);
    expect(late.seen).toEqual([
      { at: 120_000, slot: 120_000, missed: 0 },
      { at: 180_000, slot: 180_000, missed: 0 },
    ]);
    const onSlot = await run(everyMinute, { initialDelayMs: 120_000 }, 150_000);
    expect(onSlot.seen.map((s) => s.at)).toEqual([120_000]);
    const without = await run(everyMinute, {}, 150_000);
    expect(without.seen.map((s) => s.at)).toEqual([60_000, 120_000]);
  });

  it('is refused with runOnStart: true, and when it is not a duration', () => {
    const define = (options: PeriodicTaskOptions) => {
      try {
        class Job {
          @Periodic(1_000, options)
          tick() {}
        }
        return Job;
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(define({ runOnStart: true, initialDelayMs: 5_000 })).toBe(
      INVALID_OPTION_AT(
        '@Periodic on Job.tick',
        'initialDelayMs',
        'unset when runOnStart is true (runOnStart runs the first tick at once; initialDelayMs delays it: choose one)',
        5_000,
      ),
    );
    expect(define({ initialDelayMs: -1 })).toBe(
      INVALID_OPTION_AT('@Periodic on Job.tick', 'initialDelayMs', 'a number of milliseconds from 0 to 3153600000000 (100 years)', -1),
    );
    expect(define({ initialDelayMs: '5000' as never })).toBe(
      INVALID_OPTION_AT('@Periodic on Job.tick', 'initialDelayMs', 'a number of milliseconds from 0 to 3153600000000 (100 years)', '5000'),
    );
    expect(typeof define({ runOnStart: false, initialDelayMs: 5_000 })).toBe('function');
  });
});
