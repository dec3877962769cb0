import { Inject, Injectable, Scope, type Provider } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import {
  Delayed,
  Periodic,
  ServiceStateError,
  TickContext,
  type HostingOptions,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { INVALID_DELAY, INVALID_OPTION_AT, NOT_A_METHOD, UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { startOnTime } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

const start = (providers: Provider[], time: VirtualTime, hosting: HostingOptions = {}) => startOnTime(time, { providers, hosting });

function thrownBy(define: () => unknown): Error {
  try {
    define();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected it to throw');
}

describe('@Delayed', () => {
  it('runs once, its delay after the host started, and is listed with its status', async () => {
    const runs: Array<{ at: number; tick: number; scheduledAt: number; triggered: boolean }> = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Warmup {
      @Delayed(30_000)
      warm(ctx: TickContext) {
        runs.push({ at: time.now() - T0, tick: ctx.tick, scheduledAt: ctx.scheduledAt.getTime() - T0, triggered: ctx.triggered });
      }
    }
    const { moduleRef, registry } = await start([Warmup], time);
    try {
      expect(registry.get('Warmup.warm')).toMatchObject({ kind: 'periodic', state: 'idle', runs: 0, schedule: 'once after 30000 ms', nextRunAt: new Date(T0 + 30_000) });
      await time.advance(29_999);
      expect(runs).toEqual([]);
      await time.advance(1);
      expect(runs).toEqual([{ at: 30_000, tick: 1, scheduledAt: 30_000, triggered: false }]);
      await time.advance(10 * 60_000);
      expect(runs).toHaveLength(1); // once, never again
      expect(registry.get('Warmup.warm')).toMatchObject({ state: 'stopped', runs: 1, failures: 0, nextRunAt: undefined });
      expect(registry.list().map((s) => s.name)).toContain('Warmup.warm');
    } finally {
      await moduleRef.close();
    }
  });

  it('gives a request-scoped provider a fresh scope for its run, with the TickContext as REQUEST', async () => {
    const seen: Array<{ request: unknown; ctx: TickContext; id: number }> = [];
    let created = 0;
    @Injectable({ scope: Scope.REQUEST })
    class Repo {
      readonly id = ++created;
      constructor(@Inject(REQUEST) readonly request: TickContext) {}
    }
    @Injectable()
    class Job {
      constructor(private readonly repo: Repo) {}
      @Delayed(1_000, { name: 'seed' })
      seed(ctx: TickContext) {
        seen.push({ request: this.repo.request, ctx, id: this.repo.id });
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Repo, Job], time);
    try {
      await time.advance(1_000);
      await registry.trigger('seed'); // an extra run, its own scope
      expect(seen).toHaveLength(2);
      expect(seen[0]!.request).toBe(seen[0]!.ctx);
      expect(seen[0]!.ctx).toBeInstanceOf(TickContext);
      expect(seen[1]!.request).toBe(seen[1]!.ctx);
      expect(seen[0]!.id).not.toBe(seen[1]!.id);
    } finally {
      await moduleRef.close();
    }
  });

  it('never runs when the host stops before its time', async () => {
    let ran = 0;
    @Injectable()
    class Later {
      @Delayed(60_000)
      run() {
        ran++;
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Later], time);
    await time.advance(30_000);
    await moduleRef.close();
    await time.advance(60_000);
    expect(ran).toBe(0);
    expect(registry.get('Later.run')).toMatchObject({ state: 'stopped', runs: 0 });
    expect(time.pendingTimers).toBe(0);
  });

  it('aborts the signal of a running run at shutdown and counts it as a clean stop', async () => {
    const time = new VirtualTime({ now: T0 });
    let reason: unknown;
    @Injectable()
    class Long {
      @Delayed(1_000)
      async run(ctx: TickContext) {
        try {
          await time.delay(3_600_000, ctx.signal);
        } finally {
          reason = ctx.signal.reason;
        }
      }
    }
    const { moduleRef, registry, logger } = await start([Long], time);
    await time.advance(1_000);
    expect(registry.get('Long.run')).toMatchObject({ state: 'running', runs: 1 });
    await moduleRef.close();
    expect(reason).toBeDefined();
    expect(registry.get('Long.run')).toMatchObject({ state: 'stopped', runs: 1, failures: 0 });
    expect(logger.errors()).toEqual([]);
  });

  it('isolates a failure: logged and counted, the host and its other tasks go on', async () => {
    const ticks: number[] = [];
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Jobs {
      @Delayed(500)
      boom() {
        throw new Error('warm-up failed');
      }
      @Periodic(1_000)
      tick(ctx: TickContext) {
        ticks.push(ctx.tick);
      }
    }
    const { moduleRef, registry, logger } = await start([Jobs], time);
    try {
      await time.advance(3_000);
      expect(registry.get('Jobs.boom')).toMatchObject({ state: 'stopped', runs: 1, failures: 1, lastError: { message: 'warm-up failed' } });
      expect(logger.find('error', 'Delayed task "Jobs.boom" failed')).toHaveLength(1);
      expect(ticks).toEqual([1, 2, 3]);
    } finally {
      await moduleRef.close();
    }
  });

  it('timeoutMs aborts the run signal and counts a failure', async () => {
    const time = new VirtualTime({ now: T0 });
    @Injectable()
    class Slow {
      @Delayed(100, { timeoutMs: 2_000 })
      async run(ctx: TickContext) {
        await time.delay(60_000, ctx.signal);
      }
    }
    const { moduleRef, registry } = await start([Slow], time);
    try {
      await time.advance(100);
      await time.advance(2_000);
      await registry.whenIdle();
      expect(registry.get('Slow.run')).toMatchObject({ state: 'stopped', failures: 1 });
      expect(registry.get('Slow.run')?.lastError?.message).toContain('timed out after 2000 ms');
    } finally {
      await moduleRef.close();
    }
  });

  it('enabled: false, or forRoot({ enabled: { delayed: false } }): listed as disabled, never run', async () => {
    let ran = 0;
    @Injectable()
    class Off {
      @Delayed(1_000, { enabled: false })
      off() {
        ran++;
      }
    }
    @Injectable()
    class On {
      @Delayed(1_000)
      on() {
        ran++;
      }
    }
    const time = new VirtualTime({ now: T0 });
    const first = await start([Off], time);
    try {
      await time.advance(5_000);
      expect(first.registry.get('Off.off')).toMatchObject({ state: 'disabled', runs: 0, schedule: 'once after 1000 ms' });
      await expect(first.registry.trigger('Off.off')).rejects.toBeInstanceOf(ServiceStateError);
    } finally {
      await first.moduleRef.close();
    }
    const second = await start([On], time, { enabled: { delayed: false } });
    try {
      await time.advance(5_000);
      expect(second.registry.get('On.on')).toMatchObject({ state: 'disabled', runs: 0 });
    } finally {
      await second.moduleRef.close();
    }
    expect(ran).toBe(0);
  });

  describe('bad input fails as the class is defined, naming decorator, method, option and value', () => {
    const define = (delay: unknown, options?: unknown) =>
      thrownBy(() => {
        class Job {
          @Delayed(delay as number, options as never)
          run() {}
        }
        return Job;
      });

    it.each([[-1], [Number.NaN], ['5000'], [Infinity], [undefined]])('delay %p', (delay) => {
      expect(define(delay).message).toBe(INVALID_DELAY('Job.run', delay));
    });

    it('options', () => {
      expect(define(10, { timeout: 5 }).message).toBe(UNKNOWN_OPTION('@Delayed on Job.run', 'timeout', 'timeoutMs', ['name', 'timeoutMs', 'enabled']));
      expect(define(10, { timeoutMs: 0 }).message).toBe(
        INVALID_OPTION_AT('@Delayed on Job.run', 'timeoutMs', 'a number of milliseconds from 1 to 3153600000000 (100 years)', 0),
      );
      expect(define(10, { name: '' }).message).toBe(INVALID_OPTION_AT('@Delayed on Job.run', 'name', 'a non-empty string', ''));
      expect(define(10, { enabled: 'false' }).message).toBe(INVALID_OPTION_AT('@Delayed on Job.run', 'enabled', 'a boolean', 'false'));
    });

    it('on a property', () => {
      const error = thrownBy(() => {
        class Job {
          @(Delayed(10) as PropertyDecorator)
          value = 1;
        }
        return Job;
      });
      expect(error.message).toBe(NOT_A_METHOD('@Delayed', 'Job.value'));
    });
  });
});
