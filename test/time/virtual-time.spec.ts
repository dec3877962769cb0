import { Injectable, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BackgroundService,
  HostingModule,
  InjectQueue,
  Periodic,
  QueueWorker,
  TickContext,
  TimeProvider,
  WorkQueue,
  type HostedBackgroundService,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startOnTime, within, type HostingAppOptions } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const start = (providers: Provider[], time: VirtualTime, imports: HostingAppOptions['imports'] = []) => startOnTime(time, { providers, imports });

describe('VirtualTime', () => {
  it('fires each tick of an interval task at its slot, in order, and awaits it before advance resolves', async () => {
    const seen: string[] = [];
    @Injectable()
    class Job {
      @Periodic(60_000)
      async run(ctx: TickContext) {
        await Promise.resolve();
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(`${ctx.tick}@${ctx.scheduledAt.toISOString()}`);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Job], time);
    try {
      await time.advance(59_999);
      expect(seen).toEqual([]);
      await time.advance(1);
      expect(seen).toEqual([`1@${iso(T0 + 60_000)}`]);
      await time.advance(3 * 60_000);
      expect(seen).toEqual([1, 2, 3, 4].map((k) => `${k}@${iso(T0 + k * 60_000)}`));
      expect(registry.get('Job.run')).toMatchObject({ runs: 4, missedTicks: 0, nextRunAt: new Date(T0 + 5 * 60_000) });
      expect(time.now()).toBe(T0 + 4 * 60_000);
    } finally {
      await moduleRef.close();
    }
  });

  it('coalesces the slots that pass during a long tick into one run, counted as missed', async () => {
    const seen: Array<{ at: number; missed: number }> = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Slow {
      @Periodic(1_000)
      async run(ctx: TickContext) {
        seen.push({ at: time.now() - T0, missed: ctx.missedTicks });
        if (ctx.tick === 1) await time.delay(3_500); // overruns 3 slots (2 s, 3 s, 4 s)
      }
    }
    const { moduleRef, registry } = await start([Slow], time);
    try {
      // The first tick waits on virtual time: advance cannot await it, so it moves on by timers.
      await time.advance(1_000);
      await time.advance(4_000);
      expect(seen).toEqual([
        { at: 1_000, missed: 0 },
        { at: 4_500, missed: 2 },
        { at: 5_000, missed: 0 },
      ]);
      expect(registry.get('Slow.run')?.missedTicks).toBe(2);
    } finally {
      await moduleRef.close();
    }
  });

  it('keeps interval grids on the monotonic clock: a wall clock set back an hour changes nothing', async () => {
    const ticks: number[] = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Job {
      @Periodic(10_000)
      run() {
        ticks.push(time.monotonic());
      }
    }
    const { moduleRef } = await start([Job], time);
    try {
      await time.advance(10_000);
      await time.stepWallClock(-3_600_000);
      await time.advance(20_000);
      await time.stepWallClock(+7_200_000);
      await time.advance(10_000);
      expect(ticks).toEqual([10_000, 20_000, 30_000, 40_000]);
    } finally {
      await moduleRef.close();
    }
  });

  describe('cron on the wall clock', () => {
    function cronApp() {
      const runs: string[] = [];
      @Injectable()
      class Report {
        @Periodic({ cron: '0 0 * * * *', timeZone: 'UTC' }) // every hour, on the hour
        run(ctx: TickContext) {
          runs.push(`${ctx.scheduledAt.toISOString()} missed=${ctx.missedTicks}`);
        }
      }
      return { runs, Report };
    }

    it('a wall clock set back an hour runs the next hour when the wall clock reaches it, not early and not an hour late', async () => {
      const { runs, Report } = cronApp();
      const time = new VirtualTime({ now: Date.parse('2026-06-01T10:30:00Z') });
      const { moduleRef } = await start([Report], time);
      try {
        await time.advance(10 * 60_000); // 10:40
        await time.stepWallClock(-3_600_000); // 09:40 on the wall, the 11:00 slot is now 80 minutes away
        await time.advance(79 * 60_000);
        expect(runs).toEqual([]);
        await time.advance(60_000);
        expect(runs).toEqual(['2026-06-01T11:00:00.000Z missed=0']);
      } finally {
        await moduleRef.close();
      }
    });

    it('a wall clock set forward two hours runs at once, the passed slots folded into one run and counted', async () => {
      const { runs, Report } = cronApp();
      const time = new VirtualTime({ now: Date.parse('2026-06-01T10:30:00Z') });
      const { moduleRef, registry } = await start([Report], time);
      try {
        await time.stepWallClock(2 * 3_600_000); // 12:30: 11:00 and 12:00 passed
        expect(runs).toEqual(['2026-06-01T12:00:00.000Z missed=1']);
        expect(registry.get('Report.run')?.missedTicks).toBe(1);
        await time.advance(30 * 60_000);
        expect(runs).toEqual(['2026-06-01T12:00:00.000Z missed=1', '2026-06-01T13:00:00.000Z missed=0']);
      } finally {
        await moduleRef.close();
      }
    });

    it('after a suspend, cron runs the missed instants as one run while an interval task goes on from where it was', async () => {
      const { runs, Report } = cronApp();
      const intervalTicks: number[] = [];
      const time = new VirtualTime({ now: Date.parse('2026-06-01T10:30:00Z') });
      @Injectable()
      class Pump {
        @Periodic(15 * 60_000)
        run() {
          intervalTicks.push(time.monotonic());
        }
      }
      const { moduleRef } = await start([Report, Pump], time);
      try {
        await time.advance(20 * 60_000); // 10:50; the pump ticked at 15 min
        await time.suspend(3 * 3_600_000); // asleep until 13:50
        expect(runs).toEqual(['2026-06-01T13:00:00.000Z missed=2']);
        expect(intervalTicks).toEqual([15 * 60_000]);
        await time.advance(10 * 60_000); // 14:00 on the wall; the pump's next slot (30 min monotonic) passed at 10 min
        expect(intervalTicks).toEqual([15 * 60_000, 30 * 60_000]);
        expect(runs).toEqual(['2026-06-01T13:00:00.000Z missed=2', '2026-06-01T14:00:00.000Z missed=0']);
      } finally {
        await moduleRef.close();
      }
    });
  });

  it('retries a failed queue item after its backoff only as time advances; drain and whenIdle settle it', async () => {
    const attempts: number[] = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Worker {
      @QueueWorker('mail', { attempts: 3, backoff: { type: 'exponential', delayMs: 1_000 } })
      handle(_item: string) {
        attempts.push(time.now() - T0);
        if (attempts.length < 3) throw new Error('smtp down');
      }
    }
    @Injectable()
    class Producer {
      constructor(@InjectQueue('mail') readonly queue: WorkQueue<string>) {}
    }
    const { moduleRef, registry } = await start([Worker, Producer], time, [HostingModule.registerQueue({ name: 'mail' })]);
    try {
      const queue = moduleRef.get(Producer).queue;
      await queue.enqueue('hello');
      await registry.whenIdle();
      expect(attempts).toEqual([0]);
      const drained = queue.drain();
      await time.advance(999);
      expect(attempts).toEqual([0]);
      await time.advance(1);
      expect(attempts).toEqual([0, 1_000]);
      await time.advance(2_000); // exponential: 2 s after the second attempt
      expect(attempts).toEqual([0, 1_000, 3_000]);
      await drained;
      expect(registry.get('mail')).toMatchObject({ processed: 1, failures: 2, depth: 0 });
    } finally {
      await moduleRef.close();
    }
  });

  it('restarts a failing background service after each backoff as time advances, the delays doubling', async () => {
    const time = new VirtualTime({ now: T0 });
    const startedAt: number[] = [];
    @BackgroundService({ onError: 'restart', restart: { maxRestarts: 3, initialDelayMs: 1_000, maxDelayMs: 60_000 } })
    class Flaky implements HostedBackgroundService {
      async execute() {
        startedAt.push(time.now() - T0);
        throw new Error('no connection');
      }
    }
    const { moduleRef, registry } = await start([Flaky], time);
    try {
      await time.advance(0);
      expect(startedAt).toEqual([0]);
      await time.advance(7_000);
      expect(startedAt).toEqual([0, 1_000, 3_000, 7_000]);
      expect(registry.get('Flaky')).toMatchObject({ runs: 4, failures: 4 });
    } finally {
      await moduleRef.close().catch(() => undefined);
    }
  });

  it('a watchdog firing at the instant a tick starts waiting on the clock does not hold advance (the late-task sweep, a timeoutMs)', async () => {
    // At 1 s the slow tick starts and awaits a one-hour delay, and the missed-run sweep (a
    // watchdog: a quarter of the 2 s budget) fires at the same instant: advance used to take the
    // sweep for the work that armed and wait for ever on the tick.
    const seen: number[] = [];
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'fast' })
      fast(ctx: TickContext) {
        seen.push(ctx.tick);
      }
      @Periodic(1_000, { name: 'slow', timeoutMs: 2_500 })
      async slow(ctx: TickContext) {
        await time.delay(3_600_000, ctx.signal).catch(() => undefined);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Jobs], time);
    try {
      expect(await within(time.advance(4_000), 10_000, 'advance never resolved')).toBeUndefined();
      expect(seen).toEqual([1, 2, 3, 4]);
      // The slow tick's signal aborted at 3.5 s (its timeoutMs) and it returned; its next run is the coalesced slot at 4 s, running now.
      expect(registry.get('slow')).toMatchObject({ runs: 2, failures: 0, missedTicks: 1, state: 'running' });
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses bad arguments with errors naming the method and the value', async () => {
    const time = new VirtualTime({ now: T0 });
    await expect(time.advance(-1)).rejects.toThrow('VirtualTime.advance(ms): expected a finite number of milliseconds >= 0, got -1');
    await expect(time.advanceTo(new Date(T0 - 1))).rejects.toThrow(/VirtualTime.advanceTo\(date\): expected a Date not before 2026-06-01T00:00:00.000Z/);
    expect(() => new VirtualTime({ now: 'soon' as never })).toThrow(/new VirtualTime\(\{ now \}\): expected a Date or epoch milliseconds, got "soon"/);
    expect(() => HostingModule.forRoot({ timeProvider: {} as never })).toThrow(/HostingModule.forRoot.*timeProvider.*a TimeProvider/);
  });

  it('is given to the host with forRoot({ timeProvider }) as well as by overriding the TimeProvider token', async () => {
    const time = new VirtualTime({ now: T0 });
    let ticks = 0;
    @Injectable()
    class Job {
      @Periodic(1_000)
      run() {
        ticks++;
      }
    }
    const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot({ timeProvider: time })], providers: [Job] })
      .setLogger(new CaptureLogger())
      .compile();
    await moduleRef.init();
    try {
      expect(moduleRef.get(TimeProvider)).toBe(time);
      await time.advance(5_000);
      expect(ticks).toBe(5);
    } finally {
      await moduleRef.close();
    }
  });
});
