import { Controller, Injectable } from '@nestjs/common';
import { CronExpression } from '@nestjs/schedule';
import { HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { TASK_FAILED } from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

// Logic tests run on virtual time (exact instants, no real waiting); the tests marked "real timer"
// keep the system clock because the system clock firing the ticks is what they check.
const T0 = Date.parse('2026-06-01T00:00:00.000Z');


describe('@Periodic', () => {
  describe('on a fixed period', () => {
    it('real timer: the system clock fires the ticks of an interval task', async () => {
      // The system TimeProvider's timers are the subject here; the arithmetic is tested on virtual time below.
      const ticks: TickContext[] = [];
      @Injectable()
      class Heartbeat {
        @Periodic(40)
        beat(ctx: TickContext) {
          ticks.push(ctx);
        }
      }
      const t0 = Date.now();
      const { app } = await startHostingApp({ providers: [Heartbeat] });
      await waitFor(() => ticks.length >= 2);
      await app.close();
      expect(ticks[0].scheduledAt.getTime()).toBeGreaterThanOrEqual(t0 + 40);
      // On the 40 ms grid: the next slot, or (a busy machine held the loop past it) a later one, the passed ones counted.
      expect(ticks[1].scheduledAt.getTime() - ticks[0].scheduledAt.getTime()).toBe(40 * (1 + ticks[1].missedTicks));
    });

    it('runs every period, first tick one period after start, on a fixed grid (PeriodicTimer)', async () => {
      const ticks: TickContext[] = [];
      @Injectable()
      class Heartbeat {
        @Periodic(40)
        beat(ctx: TickContext) {
          ticks.push(ctx);
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app } = await startHostingApp({ time,  providers: [Heartbeat] });
      try {
        await time.advance(39);
        expect(ticks).toEqual([]);
        await time.advance(1 + 80);
        expect(ticks.map((t) => [t.tick, t.scheduledAt.getTime() - T0])).toEqual([
          [1, 40],
          [2, 80],
          [3, 120],
        ]);
        expect(ticks[0].name).toBe('Heartbeat.beat');
        expect(ticks[0].slotKey).toBe(`Heartbeat.beat@${new Date(T0 + 40).toISOString()}`);
        expect(app.get(HostingRegistry).get('Heartbeat.beat')).toMatchObject({ runs: 3, nextRunAt: new Date(T0 + 160) });
      } finally {
        await app.close();
      }
    });

    it('accepts { every } and a name', async () => {
      let runs = 0;
      @Injectable()
      class Named {
        @Periodic({ every: 30, name: 'sweep' })
        sweep() {
          runs++;
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app } = await startHostingApp({ time,  providers: [Named] });
      try {
        await time.advance(60);
        expect(runs).toBe(2);
        expect(app.get(HostingRegistry).get('sweep')).toMatchObject({ kind: 'periodic', schedule: 'every 30 ms', periodMs: 30 });
      } finally {
        await app.close();
      }
    });

    it('never starts a tick while the previous one runs, and coalesces the ticks it missed into one', async () => {
      let running = 0;
      let maxRunning = 0;
      const seen: Array<{ at: number; slot: number; missed: number }> = [];
      const time = new VirtualTime({ now: T0 });
      @Injectable()
      class Slow {
        @Periodic(20)
        async work(ctx: TickContext) {
          running++;
          maxRunning = Math.max(maxRunning, running);
          seen.push({ at: time.now() - T0, slot: ctx.scheduledAt.getTime() - T0, missed: ctx.missedTicks });
          await time.delay(seen.length === 1 ? 130 : 1, ctx.signal).catch(() => undefined);
          running--;
        }
      }
      const { app } = await startHostingApp({ time,  providers: [Slow] });
      try {
        await time.advance(20);
        await time.advance(140);
        expect(maxRunning).toBe(1);
        // the 130 ms first run (20 → 150) overran the slots 40…140: one immediate run at 150, five counted as missed
        expect(seen[0]).toEqual({ at: 20, slot: 20, missed: 0 });
        expect(seen[1]).toEqual({ at: 150, slot: 140, missed: 5 });
        expect(seen[2]).toEqual({ at: 160, slot: 160, missed: 0 });
        expect(app.get(HostingRegistry).get('Slow.work')!.missedTicks).toBe(5);
      } finally {
        await app.close();
      }
    });

    it('handles periods above 2^31−1 ms: fires at the exact instant, not before', async () => {
      const runs: string[] = [];
      @Injectable()
      class Yearly {
        @Periodic(2 ** 31 + 10_000)
        a() {
          runs.push('a');
        }
        @Periodic({ every: 2 ** 40 })
        b() {
          runs.push('b');
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app } = await startHostingApp({ time,  providers: [Yearly] });
      try {
        const registry = app.get(HostingRegistry);
        expect(registry.get('Yearly.a')!.nextRunAt).toEqual(new Date(T0 + 2 ** 31 + 10_000));
        expect(registry.get('Yearly.b')!.nextRunAt).toEqual(new Date(T0 + 2 ** 40));
        await time.advance(2 ** 31 + 9_999);
        expect(runs).toEqual([]);
        await time.advance(1);
        expect(runs).toEqual(['a']);
        expect(registry.get('Yearly.a')!.nextRunAt).toEqual(new Date(T0 + 2 * (2 ** 31 + 10_000)));
      } finally {
        await app.close();
      }
    });

    it('real timer: periods above 2^31−1 ms do not overflow to 1 ms on the system clock', async () => {
      // Node's setTimeout overflows above 2^31−1 ms; the system TimeProvider's long timers are the subject.
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);
      let runs = 0;
      @Injectable()
      class Yearly {
        @Periodic(2 ** 31 + 10_000)
        a() {
          runs++;
        }
        @Periodic({ every: 2 ** 40 })
        b() {
          runs++;
        }
      }
      const before = Date.now();
      const { app } = await startHostingApp({ providers: [Yearly] });
      try {
        await sleep(50); // an overflowed timer would fire after 1 ms
        expect(runs).toBe(0);
        expect(app.get(HostingRegistry).get('Yearly.a')!.nextRunAt!.getTime()).toBeGreaterThanOrEqual(before + 2 ** 31 + 10_000);
        expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
      } finally {
        await app.close();
        process.off('warning', onWarning);
      }
    });

    it('runOnStart runs the first tick right away', async () => {
      const ticks: TickContext[] = [];
      @Injectable()
      class Warm {
        @Periodic(3_600_000, { runOnStart: true })
        warm(ctx: TickContext) {
          ticks.push(ctx);
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app } = await startHostingApp({ time,  providers: [Warm] });
      try {
        await time.advance(0);
        expect(ticks.map((t) => [t.tick, t.scheduledAt.getTime()])).toEqual([[1, T0]]);
        await time.advance(3_599_999);
        expect(ticks).toHaveLength(1);
        await time.advance(1);
        expect(ticks.map((t) => t.scheduledAt.getTime())).toEqual([T0, T0 + 3_600_000]);
      } finally {
        await app.close();
      }
    });

    it('timeoutMs aborts the tick signal; the next tick still waits for the run to settle', async () => {
      const aborts: Array<{ tick: number; started: number; at: number; reason: unknown }> = [];
      let running = 0;
      let maxRunning = 0;
      const time = new VirtualTime({ now: T0 });
      @Injectable()
      class Bounded {
        @Periodic(20, { timeoutMs: 50, runOnStart: true })
        async work(ctx: TickContext) {
          const started = time.now() - T0;
          running++;
          maxRunning = Math.max(maxRunning, running);
          // waits on virtual time until its timeoutMs watchdog aborts it (a wait on an event only would hold advance)
          await time.delay(1_000, ctx.signal).catch(() => undefined);
          aborts.push({ tick: ctx.tick, started, at: time.now() - T0, reason: ctx.signal.reason });
          running--;
        }
      }
      const { app } = await startHostingApp({ time,  providers: [Bounded] });
      try {
        await time.advance(100);
        expect(String((aborts[0].reason as Error).message)).toContain('timed out');
        expect(maxRunning).toBe(1);
        // each run is aborted exactly timeoutMs after it starts, and the next starts only when it settled
        expect(aborts.map(({ tick, started, at }) => ({ tick, started, at }))).toEqual([
          { tick: 1, started: 0, at: 50 },
          { tick: 2, started: 50, at: 100 },
        ]);
      } finally {
        await app.close();
      }
    });

    it('jitterMs delays each run by up to jitterMs after its slot, never before it; slots stay on the grid', async () => {
      const lateness: number[] = [];
      const slots: number[] = [];
      const time = new VirtualTime({ now: T0 });
      @Injectable()
      class Spread {
        @Periodic(60, { jitterMs: 40 })
        run(ctx: TickContext) {
          lateness.push(time.now() - ctx.scheduledAt.getTime());
          slots.push(ctx.scheduledAt.getTime() - T0);
        }
      }
      const { app } = await startHostingApp({ time,  providers: [Spread] });
      try {
        await time.advance(50 * 60 + 40);
        expect(slots).toEqual(Array.from({ length: 50 }, (_, k) => (k + 1) * 60));
        expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...lateness)).toBeLessThanOrEqual(40);
        const mean = lateness.reduce((a, b) => a + b, 0) / lateness.length;
        expect(mean).toBeGreaterThan(8); // uniform 0..40 ms: mean 20 ms; without jitter exactly 0 on virtual time
        expect(new Set(lateness).size).toBeGreaterThan(10);
      } finally {
        await app.close();
      }
    });

    it('works on controllers too', async () => {
      let runs = 0;
      @Controller('health')
      class HealthController {
        @Periodic(25)
        refresh() {
          runs++;
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app } = await startHostingApp({ time,  controllers: [HealthController] });
      try {
        await time.advance(50);
        expect(runs).toBe(2);
        expect(app.get(HostingRegistry).get('HealthController.refresh')?.kind).toBe('periodic');
      } finally {
        await app.close();
      }
    });
  });

  describe('on a cron schedule', () => {
    it('real timer: the system clock fires a cron tick on its whole second', async () => {
      // The system clock reaching the cron instant is the subject; slot arithmetic is tested on virtual time below.
      const ticks: TickContext[] = [];
      @Injectable()
      class EverySecond {
        @Periodic({ cron: CronExpression.EVERY_SECOND })
        tick(ctx: TickContext) {
          ticks.push(ctx);
        }
      }
      const { app } = await startHostingApp({ providers: [EverySecond] });
      try {
        await waitFor(() => ticks.length >= 1, 10_000);
        expect(ticks[0].scheduledAt.getMilliseconds()).toBe(0);
        expect(Date.now()).toBeGreaterThanOrEqual(ticks[0].scheduledAt.getTime());
      } finally {
        await app.close();
      }
    });

    it('runs on the cron slots the `cron` package computes, accepting @nestjs/schedule CronExpression', async () => {
      const ticks: TickContext[] = [];
      @Injectable()
      class EverySecond {
        @Periodic({ cron: CronExpression.EVERY_SECOND })
        tick(ctx: TickContext) {
          ticks.push(ctx);
        }
        @Periodic({ cron: CronExpression.EVERY_DAY_AT_MIDNIGHT, timeZone: 'Asia/Tokyo' }, { name: 'tokyo-midnight' })
        midnight() {}
      }
      const time = new VirtualTime({ now: T0 + 250 });
      const { app } = await startHostingApp({ time,  providers: [EverySecond] });
      try {
        await time.advance(2_750);
        expect(ticks.map((t) => t.scheduledAt.getTime() - T0)).toEqual([1_000, 2_000, 3_000]);
        const tokyo = app.get(HostingRegistry).get('tokyo-midnight')!;
        // 2026-06-01T00:00:03Z is 09:00:03 in Tokyo: the next midnight there is 15:00Z
        expect(tokyo.nextRunAt).toEqual(new Date('2026-06-01T15:00:00.000Z'));
        expect(tokyo.schedule).toBe(`cron ${CronExpression.EVERY_DAY_AT_MIDNIGHT} (Asia/Tokyo)`);
        expect(tokyo.periodMs).toBe(86_400_000);
      } finally {
        await app.close();
      }
    });
  });

  describe('when a tick fails', () => {
    it('a synchronous throw is contained the same way and the schedule goes on', async () => {
      let runs = 0;
      @Injectable()
      class SyncFailing {
        @Periodic(20)
        tick() {
          runs++;
          throw new Error('sync tick failure');
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app, logger } = await startHostingApp({ time,  providers: [SyncFailing] });
      try {
        await time.advance(80);
        expect(runs).toBe(4);
        expect(app.get(HostingRegistry).get('SyncFailing.tick')).toMatchObject({ failures: 4, consecutiveFailures: 4 });
        expect(logger.find('error', TASK_FAILED('Periodic task', 'SyncFailing.tick'))).toHaveLength(4);
      } finally {
        await app.close();
      }
    });

    it('logs it once with the task name and stack, counts it, and keeps the schedule', async () => {
      let runs = 0;
      @Injectable()
      class Failing {
        @Periodic(25)
        async flaky() {
          runs++;
          if (runs <= 2) throw new Error(`bad tick ${runs}`);
        }
      }
      const time = new VirtualTime({ now: T0 });
      const { app, logger } = await startHostingApp({ time,  providers: [Failing] });
      try {
        await time.advance(100);
        expect(runs).toBe(4);
        const status = app.get(HostingRegistry).get('Failing.flaky')!;
        const errors = logger.find('error', TASK_FAILED('Periodic task', 'Failing.flaky'));
        expect(errors).toHaveLength(2);
        expect(errors[0].details).toContain('bad tick 1');
        expect(errors[0].details).toMatch(/at .*flaky/);
        expect(status.failures).toBe(2);
        expect(status.consecutiveFailures).toBe(0);
        expect(status.lastError?.message).toBe('bad tick 2');
      } finally {
        await app.close();
      }
    });
  });
});
