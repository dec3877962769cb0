/**
 * `CronExpression` from 'nest-hosting': the names and values of `@nestjs/schedule`'s enum (a
 * migrating app drops `@nestjs/schedule`), each read by the `cron` package, usable in `@Periodic`.
 */
import { Injectable } from '@nestjs/common';
import { CronExpression as ScheduleCronExpression } from '@nestjs/schedule';
import { CronTime } from 'cron';
import { expectTypeOf } from 'expect-type';
import { CronExpression, HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';

describe('CronExpression', () => {
  it("has exactly @nestjs/schedule's names and values, in the same order", () => {
    expect(Object.entries(CronExpression)).toEqual(Object.entries(ScheduleCronExpression));
    expect(Object.keys(CronExpression).length).toBeGreaterThan(80);
  });

  it.each(Object.entries(CronExpression))('%s (%s) is read by the cron package', (_name, expression) => {
    const next = new CronTime(expression).sendAt();
    expect(next.isValid).toBe(true);
    expect(next.toMillis()).toBeGreaterThan(Date.now() - 1_000);
  });

  it('is a string type, accepted where a cron expression is', () => {
    expectTypeOf(CronExpression.EVERY_DAY_AT_MIDNIGHT).toExtend<string>();
    expectTypeOf<{ cron: CronExpression }>().toExtend<{ cron: string }>();
  });

  describe('in an app', () => {
    let started: HostingApp | undefined;
    afterEach(async () => {
      await started?.app.close();
      started = undefined;
    });

    it('drives a @Periodic task', async () => {
      const ticks: number[] = [];
      @Injectable()
      class EverySecond {
        @Periodic({ cron: CronExpression.EVERY_SECOND }, { name: 'cron-constant' })
        tick(ctx: TickContext) {
          ticks.push(ctx.tick);
        }
      }
      started = await startHostingApp({ providers: [EverySecond] });
      expect(started.app.get(HostingRegistry).get('cron-constant')).toMatchObject({ kind: 'periodic', schedule: `cron ${CronExpression.EVERY_SECOND}` });
      await waitFor(() => ticks.length >= 1, 30_000, 'a tick of the EVERY_SECOND task');
    });
  });
});
