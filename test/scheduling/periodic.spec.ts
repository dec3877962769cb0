import { Controller, Injectable } from '@nestjs/common';
import { CronExpression } from '@nestjs/schedule';
import { CronTime } from 'cron';
import { HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { TASK_FAILED } from '../../src/hosting.messages.js';
import { sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

describe('@Periodic', () => {
  describe('on a fixed period', () => {
    it('runs every period, first tick one period after start (PeriodicTimer)', async () => {
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
      await waitFor(() => ticks.length >= 3);
      await app.close();
      expect(ticks[0].scheduledAt.getTime()).toBeGreaterThanOrEqual(t0 + 40);
      expect(ticks.map((t) => t.tick).slice(0, 3)).toEqual([1, 2, 3]);
      // slots sit on a fixed grid: t0' + k·40, whatever the lateness of each run
      const grid = ticks.slice(0, 3).map((t) => t.scheduledAt.getTime() - ticks[0].scheduledAt.getTime());
      expect(grid.every((d) => d % 40 === 0)).toBe(true);
      expect(ticks[0].name).toBe('Heartbeat.beat');
      expect(ticks[0].slotKey).toBe(`Heartbeat.beat@${ticks[0].scheduledAt.toISOString()}`);
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
      const { app } = await startHostingApp({ providers: [Named] });
      await waitFor(() => runs >= 2);
      expect(app.get(HostingRegistry).get('sweep')).toMatchObject({ kind: 'periodic', schedule: 'every 30 ms', periodMs: 30 });
      await app.close();
    });

    it('never starts a tick while the previous one runs, and coalesces the ticks it missed into one', async () => {
      let running = 0;
      let maxRunning = 0;
      const seen: TickContext[] = [];
      @Injectable()
      class Slow {
        @Periodic(20)
        async work(ctx: TickContext) {
          running++;
          maxRunning = Math.max(maxRunning, running);
          seen.push(ctx);
          await sleep(seen.length === 1 ? 130 : 1);
          running--;
        }
      }
      const { app } = await startHostingApp({ providers: [Slow] });
      await waitFor(() => seen.length >= 3);
      await app.close();
      expect(maxRunning).toBe(1);
      // the 130 ms first run overran ~6 slots: they became one immediate run, the rest counted as missed
      expect(seen[1].missedTicks).toBeGreaterThanOrEqual(3);
      expect(seen[1].scheduledAt.getTime() - seen[0].scheduledAt.getTime()).toBeGreaterThanOrEqual(100);
      const status = app.get(HostingRegistry).get('Slow.work')!;
      expect(status.missedTicks).toBeGreaterThanOrEqual(seen[1].missedTicks);
    });

    it('handles periods above 2^31−1 ms (no overflow to 1 ms)', async () => {
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
      await sleep(150);
      const next = app.get(HostingRegistry).get('Yearly.a')!.nextRunAt!.getTime();
      await app.close();
      process.off('warning', onWarning);
      expect(runs).toBe(0);
      expect(next).toBeGreaterThanOrEqual(before + 2 ** 31 + 10_000);
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
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
      const { app } = await startHostingApp({ providers: [Warm] });
      await waitFor(() => ticks.length === 1, 5_000);
      await app.close();
      expect(ticks[0].tick).toBe(1);
    });

    it('timeoutMs aborts the tick signal; the next tick still waits for the run to settle', async () => {
      const reasons: unknown[] = [];
      let runs = 0;
      @Injectable()
      class Bounded {
        @Periodic(20, { timeoutMs: 50, runOnStart: true })
        async work(ctx: TickContext) {
          runs++;
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          reasons.push(ctx.signal.reason);
        }
      }
      const { app } = await startHostingApp({ providers: [Bounded] });
      await waitFor(() => reasons.length >= 2);
      await app.close();
      expect(String((reasons[0] as Error).message)).toContain('timed out');
      expect(runs).toBeLessThanOrEqual(reasons.length + 1);
    });

    it('jitterMs delays each run by up to jitterMs after its slot, never before it; slots stay on the grid', async () => {
      const lateness: number[] = [];
      const slots: number[] = [];
      @Injectable()
      class Spread {
        @Periodic(60, { jitterMs: 40 })
        run(ctx: TickContext) {
          lateness.push(Date.now() - ctx.scheduledAt.getTime());
          slots.push(ctx.scheduledAt.getTime());
        }
      }
      const { app } = await startHostingApp({ providers: [Spread] });
      await waitFor(() => lateness.length >= 10);
      await app.close();
      expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
      const mean = lateness.reduce((a, b) => a + b, 0) / lateness.length;
      expect(mean).toBeGreaterThan(8); // uniform 0..40 ms: mean 20 ms; without jitter about 1 ms
      expect(slots.every((t) => (t - slots[0]) % 60 === 0)).toBe(true);
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
      const { app } = await startHostingApp({ controllers: [HealthController] });
      await waitFor(() => runs >= 2);
      expect(app.get(HostingRegistry).get('HealthController.refresh')?.kind).toBe('periodic');
      await app.close();
    });
  });

  describe('on a cron schedule', () => {
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
      const { app } = await startHostingApp({ providers: [EverySecond] });
      await waitFor(() => ticks.length >= 2, 10_000);
      const tokyo = app.get(HostingRegistry).get('tokyo-midnight')!;
      await app.close();
      expect(ticks.every((t) => t.scheduledAt.getMilliseconds() === 0)).toBe(true);
      expect(ticks[1].scheduledAt.getTime() - ticks[0].scheduledAt.getTime()).toBe(1000);
      const expected = new CronTime(CronExpression.EVERY_DAY_AT_MIDNIGHT, 'Asia/Tokyo').sendAt().toMillis();
      expect(tokyo.nextRunAt?.getTime()).toBe(expected);
      expect(tokyo.schedule).toBe(`cron ${CronExpression.EVERY_DAY_AT_MIDNIGHT} (Asia/Tokyo)`);
      expect(tokyo.periodMs).toBe(86_400_000);
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
      const { app, logger } = await startHostingApp({ providers: [SyncFailing] });
      await waitFor(() => runs >= 4);
      await app.close();
      expect(app.get(HostingRegistry).get('SyncFailing.tick')?.failures).toBeGreaterThanOrEqual(4);
      expect(logger.find('error', TASK_FAILED('Periodic task', 'SyncFailing.tick')).length).toBeGreaterThanOrEqual(4);
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
      const { app, logger } = await startHostingApp({ providers: [Failing] });
      await waitFor(() => runs >= 4);
      const status = app.get(HostingRegistry).get('Failing.flaky')!;
      await app.close();
      const errors = logger.find('error', TASK_FAILED('Periodic task', 'Failing.flaky'));
      expect(errors).toHaveLength(2);
      expect(errors[0].details).toContain('bad tick 1');
      expect(errors[0].details).toMatch(/at .*flaky/);
      expect(status.failures).toBe(2);
      expect(status.consecutiveFailures).toBe(0);
      expect(status.lastError?.message).toBe('bad tick 2');
    });
  });
});
