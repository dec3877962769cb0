/**
 * `@Periodic({ onMissed })`: what slots that passed without a run do — 'coalesce' (the default),
 * 'skip', or a catch-up of the latest N inside a window — across an overrun, a wall clock set
 * forward, a suspend, a late timer and pause/resume, on virtual time.
 */
import { Injectable, type Provider } from '@nestjs/common';
import { Periodic, TickContext, type PeriodicTaskOptions } from '../../src/index.js';
import { INVALID_OPTION_AT, UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startOnTime } from '../support/hosting-app.js';

type OnMissed = PeriodicTaskOptions['onMissed'];

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const HOUR = 3_600_000;
const MINUTE = 60_000;

const start = (providers: Provider[], time: VirtualTime) => startOnTime(time, { providers });

/** An interval task whose first tick overruns `overrunMs`; each run noted as `at(ms since T0) slot missed`. */
function overrunning(onMissed: OnMissed, time: VirtualTime, overrunMs: number) {
  const runs: string[] = [];
  @Injectable()
  class Slow {
    @Periodic(1_000, { onMissed })
    async run(ctx: TickContext) {
      runs.push(`${time.now() - T0}: slot ${ctx.scheduledAt.getTime() - T0} missed=${ctx.missedTicks}`);
      if (ctx.tick === 1) await time.delay(overrunMs);
    }
  }
  return { runs, Slow };
}

/** An hourly cron task; each run noted as `HH:MM slot missed`. */
function hourly(onMissed: OnMissed, time: VirtualTime) {
  const runs: string[] = [];
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  @Injectable()
  class Report {
    @Periodic({ cron: '0 0 * * * *', timeZone: 'UTC', onMissed })
    run(ctx: TickContext) {
      runs.push(`${hhmm(time.now())}: ${hhmm(ctx.scheduledAt.getTime())} missed=${ctx.missedTicks}`);
    }
  }
  return { runs, Report };
}

describe('onMissed across a tick that overruns three slots (1 s period, first tick takes 3.5 s)', () => {
  async function overrun(onMissed: OnMissed) {
    const time = new VirtualTime({ now: T0 });
    const { runs, Slow } = overrunning(onMissed, time, 3_500);
    const { moduleRef, registry } = await start([Slow], time);
    try {
      await time.advance(1_000);
      await time.advance(4_000); // to 5 s: the slots at 2, 3 and 4 s passed during the first run (until 4.5 s)
      return { runs, missedTicks: registry.get('Slow.run')?.missedTicks };
    } finally {
      await moduleRef.close();
    }
  }

  it("'coalesce' (the default) folds them into one immediate run at the last slot", async () => {
    const expected = ['1000: slot 1000 missed=0', '4500: slot 4000 missed=2', '5000: slot 5000 missed=0'];
    expect(await overrun(undefined)).toEqual({ runs: expected, missedTicks: 2 });
    expect(await overrun('coalesce')).toEqual({ runs: expected, missedTicks: 2 });
  });

  it("'skip' runs none of them and waits for the next slot on the grid; all three are counted", async () => {
    expect(await overrun('skip')).toEqual({
      runs: ['1000: slot 1000 missed=0', '5000: slot 5000 missed=3'],
      missedTicks: 3,
    });
  });

  it('a catch-up runs the latest N one after another, each at its own slot, oldest first; older ones are counted', async () => {
    expect(await overrun({ catchUp: 2, windowMs: 60_000 })).toEqual({
      runs: ['1000: slot 1000 missed=0', '4500: slot 3000 missed=1', '4500: slot 4000 missed=0', '5000: slot 5000 missed=0'],
      missedTicks: 1,
    });
    expect(await overrun({ catchUp: 5, windowMs: 60_000 })).toEqual({
      runs: ['1000: slot 1000 missed=0', '4500: slot 2000 missed=0', '4500: slot 3000 missed=0', '4500: slot 4000 missed=0', '5000: slot 5000 missed=0'],
      missedTicks: 0,
    });
  });

  it('a catch-up drops the slots older than its window', async () => {
    // At 4.5 s a 1.5 s window reaches back to 3 s: the 2 s slot is dropped.
    expect(await overrun({ catchUp: 5, windowMs: 1_500 })).toEqual({
      runs: ['1000: slot 1000 missed=0', '4500: slot 3000 missed=1', '4500: slot 4000 missed=0', '5000: slot 5000 missed=0'],
      missedTicks: 1,
    });
  });
});

describe('onMissed when the wall clock is set forward (hourly cron, 10:30 set to 12:30: 11:00 and 12:00 passed)', () => {
  async function jump(onMissed: OnMissed, forwardMs = 2 * HOUR) {
    const time = new VirtualTime({ now: Date.parse('2026-06-01T10:30:00Z') });
    const { runs, Report } = hourly(onMissed, time);
    const { moduleRef, registry } = await start([Report], time);
    try {
      await time.stepWallClock(forwardMs);
      const atOnce = [...runs];
      await time.advance(HOUR);
      return { atOnce, later: runs.slice(atOnce.length), missedTicks: registry.get('Report.run')?.missedTicks };
    } finally {
      await moduleRef.close();
    }
  }

  it("'coalesce' runs the last one at once", async () => {
    expect(await jump('coalesce')).toEqual({ atOnce: ['12:30: 12:00 missed=1'], later: ['13:00: 13:00 missed=0'], missedTicks: 1 });
  });

  it("'skip' runs none and goes on at 13:00", async () => {
    expect(await jump('skip')).toEqual({ atOnce: [], later: ['13:00: 13:00 missed=2'], missedTicks: 2 });
  });

  it('a catch-up runs both, then goes on at 13:00', async () => {
    expect(await jump({ catchUp: 3, windowMs: 2 * HOUR })).toEqual({
      atOnce: ['12:30: 11:00 missed=0', '12:30: 12:00 missed=0'],
      later: ['13:00: 13:00 missed=0'],
      missedTicks: 0,
    });
  });

  it('a catch-up leaves out the slots outside its window (set to 13:30, 90 min window: 11:00 dropped)', async () => {
    expect(await jump({ catchUp: 3, windowMs: 90 * MINUTE }, 3 * HOUR)).toEqual({
      atOnce: ['13:30: 12:00 missed=1', '13:30: 13:00 missed=0'],
      later: ['14:00: 14:00 missed=0'],
      missedTicks: 1,
    });
  });

  it('a slot merely late (no later slot passed) runs under every policy; a catch-up only inside its window', async () => {
    // 10:30 set to 11:40: only 11:00 passed, 40 minutes ago.
    for (const onMissed of ['coalesce', 'skip', { catchUp: 1, windowMs: HOUR }] as const) {
      expect(await jump(onMissed, 70 * MINUTE)).toEqual({ atOnce: ['11:40: 11:00 missed=0'], later: ['12:00: 12:00 missed=0'], missedTicks: 0 });
    }
    expect(await jump({ catchUp: 1, windowMs: 30 * MINUTE }, 70 * MINUTE)).toEqual({
      atOnce: [],
      later: ['12:00: 12:00 missed=1'],
      missedTicks: 1,
    });
  });
});

describe('onMissed after a suspend (hourly cron, asleep from 10:50 to 13:50: 11:00, 12:00 and 13:00 passed)', () => {
  async function sleep(onMissed: OnMissed) {
    const time = new VirtualTime({ now: Date.parse('2026-06-01T10:30:00Z') });
    const { runs, Report } = hourly(onMissed, time);
    const { moduleRef, registry } = await start([Report], time);
    try {
      await time.advance(20 * MINUTE);
      await time.suspend(3 * HOUR);
      const atWake = [...runs];
      await time.advance(10 * MINUTE);
      return { atWake, later: runs.slice(atWake.length), missedTicks: registry.get('Report.run')?.missedTicks };
    } finally {
      await moduleRef.close();
    }
  }

  it("'coalesce' runs once at wake-up", async () => {
    expect(await sleep('coalesce')).toEqual({ atWake: ['13:50: 13:00 missed=2'], later: ['14:00: 14:00 missed=0'], missedTicks: 2 });
  });

  it("'skip' runs at the next hour", async () => {
    expect(await sleep('skip')).toEqual({ atWake: [], later: ['14:00: 14:00 missed=3'], missedTicks: 3 });
  });

  it('a catch-up of 2 runs the last two', async () => {
    expect(await sleep({ catchUp: 2, windowMs: 6 * HOUR })).toEqual({
      atWake: ['13:50: 12:00 missed=1', '13:50: 13:00 missed=0'],
      later: ['14:00: 14:00 missed=0'],
      missedTicks: 1,
    });
  });
});

describe('onMissed and pause/resume', () => {
  it.each<[string, OnMissed]>([
    ['coalesce', 'coalesce'],
    ['skip', 'skip'],
    ['a catch-up', { catchUp: 5, windowMs: 60_000 }],
  ])("%s: slots passed while paused are neither run nor counted; resumed, the task waits for the next slot", async (_, onMissed) => {
    const time = new VirtualTime({ now: T0 });
    const { runs, Slow } = overrunning(onMissed, time, 0);
    const { moduleRef, registry } = await start([Slow], time);
    try {
      await time.advance(1_000);
      registry.pause('Slow.run');
      await time.advance(2_500); // 3.5 s: the 2 and 3 s slots passed while paused
      registry.resume('Slow.run');
      await registry.whenIdle();
      expect(runs).toEqual(['1000: slot 1000 missed=0']);
      await time.advance(500);
      expect(runs).toEqual(['1000: slot 1000 missed=0', '4000: slot 4000 missed=0']);
      expect(registry.get('Slow.run')?.missedTicks).toBe(0);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('bad onMissed fails as the class is defined, naming the task, the option and the value', () => {
  const where = '@Periodic on Job.run';
  function definitionError(onMissed: unknown): string {
    try {
      class Job {
        @Periodic(1_000, { onMissed } as never)
        run() {}
      }
      void Job;
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('expected the class definition to throw');
  }

  it.each<[unknown, string, string]>([
    ['later', 'onMissed', "one of 'coalesce', 'skip'"],
    [3, 'onMissed', "'coalesce', 'skip' or { catchUp, windowMs }"],
    [null, 'onMissed', "'coalesce', 'skip' or { catchUp, windowMs }"],
    [['skip'], 'onMissed', "'coalesce', 'skip' or { catchUp, windowMs }"],
    [{ catchUp: 0, windowMs: 1_000 }, 'onMissed.catchUp', 'a positive integer'],
    [{ catchUp: 1.5, windowMs: 1_000 }, 'onMissed.catchUp', 'a positive integer'],
    [{ windowMs: 1_000 }, 'onMissed.catchUp', 'a positive integer (how many missed slots to run)'],
    [{ catchUp: 2, windowMs: 0 }, 'onMissed.windowMs', 'a positive number of milliseconds'],
    [{ catchUp: 2, windowMs: Infinity }, 'onMissed.windowMs', 'a positive number of milliseconds'],
    [{ catchUp: 2 }, 'onMissed.windowMs', 'a positive number of milliseconds up to 3153600000000 (100 years) (how late a missed slot may still run)'],
  ])('%p', (value, option, expected) => {
    const message = definitionError(value);
    expect(message).toContain(`${where}: option "${option}" must be ${expected}`);
  });

  it('the messages quote the value given', () => {
    expect(definitionError({ catchUp: -1, windowMs: 1_000 })).toBe(
      INVALID_OPTION_AT(where, 'onMissed.catchUp', 'a positive integer', -1),
    );
    expect(definitionError('later')).toBe(INVALID_OPTION_AT(where, 'onMissed', "one of 'coalesce', 'skip'", 'later'));
  });

  it('refuses an unknown key of the catch-up with a did-you-mean', () => {
    expect(definitionError({ catchup: 2, windowMs: 1_000 })).toBe(
      UNKNOWN_OPTION(where, 'onMissed.catchup', 'onMissed.catchUp', ['onMissed.catchUp', 'onMissed.windowMs']),
    );
    expect(definitionError({ catchUp: 2, window: 1_000 })).toContain('did you mean "onMissed.windowMs"?');
  });

  it('refuses a misspelt onMissed key with a did-you-mean', () => {
    let message = '';
    try {
      class Job {
        @Periodic(1_000, { onMised: 'skip' } as never)
        run() {}
      }
      void Job;
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`${where}: unknown option "onMised"; did you mean "onMissed"?`);
  });
});
