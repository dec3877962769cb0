/**
 * The instrumentation seam: every unit of work (tick, background service run, queue item) passes
 * through one ordered chain of `WorkInterceptor`s registered through DI, inside its DI scope; the
 * chain sees the unit's kind, name, context and outcome.
 */
import { Inject, Injectable, Scope } from '@nestjs/common';
import { ModuleRef, REQUEST } from '@nestjs/core';
import {
  BackgroundService,
  Delayed,
  HostingModule,
  InjectQueue,
  JobContext,
  Periodic,
  QueueWorker,
  TickContext,
  WorkContext,
  WorkInterceptor,
  type OnScopeEnd,
  type WorkNext,
  type WorkQueue,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { INTERCEPTOR_NEXT_TWICE, INTERCEPTOR_NOT_SINGLETON } from '../../src/hosting.messages.js';
import { compileHostingApp, startOnTime, untilAborted, waitFor } from '../support/hosting-app.js';

const T0 = Date.UTC(2026, 0, 1);

/** What an interceptor saw of one unit, and how it ended. */
interface Seen {
  by: string;
  kind: string;
  name: string;
  outcome?: 'returned' | 'threw';
  value?: unknown;
  error?: string;
}

/** Records into `log` around each unit: before (`in`) and after (`out`), with the outcome. */
function recorder(by: string, log: Seen[], events: string[]): WorkInterceptor {
  return {
    async intercept(work: WorkContext, next: WorkNext) {
      events.push(`${by}:in:${work.name}`);
      const seen: Seen = { by, kind: work.kind, name: work.name };
      log.push(seen);
      try {
        seen.value = await next();
        seen.outcome = 'returned';
        return seen.value;
      } catch (error) {
        seen.outcome = 'threw';
        seen.error = (error as Error).message;
        throw error;
      } finally {
        events.push(`${by}:out:${work.name}`);
      }
    },
  };
}

describe('WorkInterceptor: the chain around every unit of work', () => {
  it('runs forRoot interceptors (instances and classes, in their order) outside decorated ones (by order), around ticks, services, delayed tasks and queue items', async () => {
    const log: Seen[] = [];
    const events: string[] = [];
    @Injectable()
    class Clock {
      readonly label = 'from-di';
    }
    // A forRoot class that is also the app's provider: that instance, its dependencies injected.
    @Injectable()
    class ClassInterceptor implements WorkInterceptor {
      private readonly inner: WorkInterceptor;
      constructor(@Inject(Clock) readonly clock: Clock) {
        this.inner = recorder(`class(${clock.label})`, log, events);
      }
      intercept(work: WorkContext, next: WorkNext) {
        return this.inner.intercept(work, next);
      }
    }
    @WorkInterceptor({ order: 5 })
    class Inner implements WorkInterceptor {
      private readonly inner = recorder('inner', log, events);
      intercept(work: WorkContext, next: WorkNext) {
        return this.inner.intercept(work, next);
      }
    }
    @WorkInterceptor({ order: -5 })
    class Outer implements WorkInterceptor {
      private readonly inner = recorder('outer', log, events);
      intercept(work: WorkContext, next: WorkNext) {
        return this.inner.intercept(work, next);
      }
    }
    const ticks: TickContext[] = [];
    const items: Array<{ item: string; ctx: JobContext }> = [];
    let serviceSignal: AbortSignal | undefined;
    @Injectable()
    class Jobs {
      constructor(@InjectQueue('mail') readonly mail: WorkQueue<string>) {}
      @Periodic(1_000, { name: 'refresh' })
      refresh(ctx: TickContext) {
        ticks.push(ctx);
        return 'refreshed';
      }
      @Delayed(500, { name: 'warm-up' })
      warmUp() {
        throw new Error('warm-up failed');
      }
      @QueueWorker('mail')
      send(item: string, ctx: JobContext) {
        items.push({ item, ctx });
      }
    }
    @BackgroundService({ name: 'pump' })
    class Pump {
      async execute(signal: AbortSignal) {
        serviceSignal = signal;
        await untilAborted(signal);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const instance = recorder('instance', log, events);
    const { moduleRef, registry } = await startOnTime(time, {
      hosting: { interceptors: [instance, ClassInterceptor] },
      imports: [HostingModule.registerQueue({ name: 'mail' })],
      providers: [Clock, ClassInterceptor, Inner, Outer, Jobs, Pump],
    });
    try {
      await time.advance(1_000);
      await moduleRef.get(Jobs).mail.enqueue('hello');
      await registry.whenIdle();
      const ofTick = log.filter((s) => s.name === 'refresh');
      expect(ofTick.map((s) => s.by)).toEqual(['instance', 'class(from-di)', 'outer', 'inner']);
      expect(ofTick.every((s) => s.kind === 'periodic' && s.outcome === 'returned' && s.value === 'refreshed')).toBe(true);
      // outermost first in, last out
      expect(events.filter((e) => e.endsWith(':refresh'))).toEqual([
        'instance:in:refresh',
        'class(from-di):in:refresh',
        'outer:in:refresh',
        'inner:in:refresh',
        'inner:out:refresh',
        'outer:out:refresh',
        'class(from-di):out:refresh',
        'instance:out:refresh',
      ]);
      const ofDelayed = log.filter((s) => s.name === 'warm-up');
      expect(ofDelayed).toHaveLength(4);
      expect(ofDelayed.every((s) => s.kind === 'periodic' && s.outcome === 'threw' && s.error === 'warm-up failed')).toBe(true);
      const ofItem = log.filter((s) => s.name === 'mail');
      expect(ofItem.map((s) => s.kind)).toEqual(['queue', 'queue', 'queue', 'queue']);
      expect(items.map((i) => i.item)).toEqual(['hello']);
      expect(log.filter((s) => s.name === 'pump').map((s) => s.kind)).toEqual(['background', 'background', 'background', 'background']);
    } finally {
      await moduleRef.close();
    }
    // The service's run ended with the host's stop: the chain saw it end.
    expect(serviceSignal?.aborted).toBe(true);
    expect(log.filter((s) => s.name === 'pump').every((s) => s.outcome === 'returned')).toBe(true);
    expect(ticks).toHaveLength(1);
  });

  it("gives the unit's context: the TickContext, the JobContext and item, the service's signal", async () => {
    const seen: Array<{ kind: string; tick?: TickContext; job?: JobContext; data: unknown; signal: AbortSignal }> = [];
    @WorkInterceptor()
    class Look implements WorkInterceptor {
      intercept(work: WorkContext, next: WorkNext) {
        expect(work).toBeInstanceOf(WorkContext);
        seen.push({ kind: work.kind, tick: work.tick, job: work.job, data: work.data, signal: work.signal });
        return next();
      }
    }
    let tick: TickContext | undefined;
    let job: JobContext | undefined;
    let serviceSignal: AbortSignal | undefined;
    @Injectable()
    class Jobs {
      constructor(@InjectQueue('q') readonly q: WorkQueue<{ n: number }>) {}
      @Periodic(100)
      t(ctx: TickContext) {
        tick = ctx;
      }
      @QueueWorker('q')
      w(_item: { n: number }, ctx: JobContext) {
        job = ctx;
      }
    }
    @BackgroundService()
    class Svc {
      async execute(signal: AbortSignal) {
        serviceSignal = signal;
        await untilAborted(signal);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, { imports: [HostingModule.registerQueue({ name: 'q' })], providers: [Look, Jobs, Svc] });
    try {
      await time.advance(100);
      await moduleRef.get(Jobs).q.enqueue({ n: 7 });
      await registry.whenIdle();
      await waitFor(() => serviceSignal !== undefined);
      const periodic = seen.find((s) => s.kind === 'periodic')!;
      expect(periodic.tick).toBe(tick);
      expect(periodic.job).toBeUndefined();
      expect(periodic.data).toBeUndefined();
      expect(periodic.signal).toBe(tick!.signal);
      const queue = seen.find((s) => s.kind === 'queue')!;
      expect(queue.job).toBe(job);
      expect(queue.tick).toBeUndefined();
      expect(queue.data).toEqual({ n: 7 });
      expect(queue.signal).toBe(job!.signal);
      const background = seen.find((s) => s.kind === 'background')!;
      expect(background.signal).toBe(serviceSignal);
      expect(background.tick).toBeUndefined();
      expect(background.job).toBeUndefined();
    } finally {
      await moduleRef.close();
    }
  });

  it("runs inside the unit's DI scope: work.contextId resolves the instances the handler got, and onScopeEnd hooks run inside next()", async () => {
    const order: string[] = [];
    let created = 0;
    @Injectable({ scope: Scope.REQUEST })
    class UnitOfWork implements OnScopeEnd {
      readonly id = ++created;
      constructor(@Inject(REQUEST) readonly request: TickContext) {}
      onScopeEnd(error?: unknown) {
        order.push(`commit ${this.id}${error ? ' (rolled back)' : ''}`);
      }
    }
    @Injectable()
    class Job {
      constructor(private readonly uow: UnitOfWork) {}
      @Periodic(50)
      run() {
        order.push(`handler ${this.uow.id}`);
      }
    }
    @WorkInterceptor()
    class ScopeAware implements WorkInterceptor {
      constructor(private readonly moduleRef: ModuleRef) {}
      async intercept(work: WorkContext, next: WorkNext) {
        expect(work.contextId).toBeDefined();
        const uow = await this.moduleRef.resolve(UnitOfWork, work.contextId, { strict: false });
        order.push(`before ${uow.id}`);
        expect(uow.request).toBe(work.tick);
        await next();
        order.push(`after ${uow.id}`);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { providers: [UnitOfWork, Job, ScopeAware] });
    try {
      await time.advance(100);
    } finally {
      await moduleRef.close();
    }
    expect(order).toEqual(['before 1', 'handler 1', 'commit 1', 'after 1', 'before 2', 'handler 2', 'commit 2', 'after 2']);
  });

  it('a forRoot class that is no provider of the app is made by Nest', async () => {
    const by: string[] = [];
    class Standalone implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        by.push('standalone');
        return next();
      }
    }
    @Injectable()
    class Job {
      @Periodic(100)
      run() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { hosting: { interceptors: [Standalone] }, providers: [Job] });
    try {
      await time.advance(200);
    } finally {
      await moduleRef.close();
    }
    expect(by).toEqual(['standalone', 'standalone']);
  });

  it('work.endedByStop(error) tells a run the host stopped (or removed) from a failure, a tick that timed out included', async () => {
    const outcomes: string[] = [];
    @WorkInterceptor()
    class Outcomes implements WorkInterceptor {
      async intercept(work: WorkContext, next: WorkNext) {
        try {
          return await next();
        } catch (error) {
          outcomes.push(`${work.name}: ${work.endedByStop(error) ? 'stopped' : 'failed'}`);
          throw error;
        }
      }
    }
    const untilAbortedThrow = async (signal: AbortSignal) => {
      await untilAborted(signal);
      throw signal.reason;
    };
    @Injectable()
    class Jobs {
      @Periodic(1_000, { name: 'times-out', timeoutMs: 100 })
      timesOut(ctx: TickContext) {
        return untilAbortedThrow(ctx.signal);
      }
      @Periodic(1_000, { name: 'throws' })
      throws() {
        throw new Error('plain failure');
      }
      @Periodic(1_000, { name: 'hangs-till-stop', runOnStart: true })
      hangs(ctx: TickContext) {
        return untilAbortedThrow(ctx.signal);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, { providers: [Outcomes, Jobs] });
    registry.addBackgroundService('removed', (signal) => untilAbortedThrow(signal));
    try {
      await time.advance(1_100);
      await waitFor(() => outcomes.length === 2);
      await registry.remove('removed');
    } finally {
      await moduleRef.close();
    }
    expect(outcomes.sort()).toEqual(['hangs-till-stop: stopped', 'removed: stopped', 'throws: failed', 'times-out: failed']);
  });

  it('a run-time task with a function handler passes through the chain too', async () => {
    const names: string[] = [];
    @WorkInterceptor()
    class Names implements WorkInterceptor {
      intercept(work: WorkContext, next: WorkNext) {
        names.push(`${work.kind}:${work.name}`);
        return next();
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, { providers: [Names] });
    try {
      registry.addPeriodic('tenant-7', 1_000, () => undefined);
      registry.addBackgroundService('poller', async (signal) => untilAborted(signal));
      await time.advance(1_000);
      await waitFor(() => names.includes('background:poller'));
      expect(names).toContain('periodic:tenant-7');
    } finally {
      await moduleRef.close();
    }
  });

  it("an interceptor that throws fails the unit: counted, logged, and the schedule goes on", async () => {
    let calls = 0;
    @WorkInterceptor()
    class Refuses implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        if (++calls === 1) throw new Error('tenant context missing');
        return next();
      }
    }
    let runs = 0;
    @Injectable()
    class Job {
      @Periodic(100, { name: 'job' })
      run() {
        runs++;
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry, logger } = await startOnTime(time, { providers: [Refuses, Job] });
    try {
      await time.advance(200);
      expect(runs).toBe(1);
      expect(registry.get('job')).toMatchObject({ runs: 2, failures: 1, consecutiveFailures: 0 });
      expect(logger.errors().map((e) => `${e.message} ${e.details}`).join('\n')).toContain('tenant context missing');
    } finally {
      await moduleRef.close();
    }
  });

  it('next() called twice is refused, naming the interceptor', async () => {
    let second: unknown;
    @WorkInterceptor()
    class Twice implements WorkInterceptor {
      async intercept(_work: WorkContext, next: WorkNext) {
        await next();
        try {
          await next();
        } catch (error) {
          second = error;
        }
      }
    }
    let runs = 0;
    @Injectable()
    class Job {
      @Periodic(100)
      run() {
        runs++;
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { providers: [Twice, Job] });
    try {
      await time.advance(100);
    } finally {
      await moduleRef.close();
    }
    expect(runs).toBe(1);
    expect((second as Error).message).toBe(INTERCEPTOR_NEXT_TWICE('Twice', 'intercept'));
  });

  it('an interceptor listed in forRoot and decorated runs once, where forRoot put it', async () => {
    const by: string[] = [];
    @WorkInterceptor({ order: -100 })
    class Both implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        by.push('both');
        return next();
      }
    }
    @WorkInterceptor({ order: -200 })
    class Other implements WorkInterceptor {
      intercept(_work: WorkContext, next: WorkNext) {
        by.push('other');
        return next();
      }
    }
    @Injectable()
    class Job {
      @Periodic(100)
      run() {
        by.push('run');
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, { hosting: { interceptors: [Both] }, providers: [Both, Other, Job] });
    try {
      await time.advance(100);
    } finally {
      await moduleRef.close();
    }
    expect(by).toEqual(['both', 'other', 'run']);
  });

  describe('bad input', () => {
    it('forRoot({ interceptors }) must be an array of classes or objects with intercept', () => {
      expect(() => HostingModule.forRoot({ interceptors: {} as never })).toThrow(
        /HostingModule\.forRoot: option "interceptors" must be an array of WorkInterceptor classes or instances.*got \{\}/,
      );
      expect(() => HostingModule.forRoot({ interceptors: [{ intercep: () => 1 } as never] })).toThrow(/option "interceptors" must be .*got \[\{/);
    });

    it('a forRoot class that is no interceptor fails at start-up, naming its place', async () => {
      class NotOne {}
      const { app } = await compileHostingApp({ hosting: { interceptors: [NotOne as never] } });
      await expect(app.init()).rejects.toThrow(
        'HostingModule.forRoot({ interceptors })[0] must be a WorkInterceptor (a class or object with an intercept(work, next) method), got function NotOne',
      );
      await app.close().catch(() => undefined);
    });

    it('@WorkInterceptor() on a class without intercept, or with a bad order, throws as the class is defined', () => {
      expect(() => {
        // @ts-expect-error: no intercept method
        @WorkInterceptor()
        class NoIntercept {}
        return NoIntercept;
      }).toThrow('@WorkInterceptor() on NoIntercept must be a WorkInterceptor (a class or object with an intercept(work, next) method), got undefined');
      expect(() => {
        @WorkInterceptor({ order: Number.NaN })
        class BadOrder implements WorkInterceptor {
          intercept(_work: WorkContext, next: WorkNext) {
            return next();
          }
        }
        return BadOrder;
      }).toThrow(/@WorkInterceptor\(\) on BadOrder: option "order" must be a finite number, got NaN/);
      expect(() => {
        @WorkInterceptor({ ordr: 1 } as never)
        class Typo implements WorkInterceptor {
          intercept(_work: WorkContext, next: WorkNext) {
            return next();
          }
        }
        return Typo;
      }).toThrow(/unknown option "ordr".*did you mean "order"/i);
    });

    it('a request-scoped interceptor fails at start-up, naming the class', async () => {
      @Injectable({ scope: Scope.REQUEST })
      class Tenant {}
      @WorkInterceptor()
      class Scoped implements WorkInterceptor {
        constructor(readonly tenant: Tenant) {}
        intercept(_work: WorkContext, next: WorkNext) {
          return next();
        }
      }
      const { app } = await compileHostingApp({ providers: [Tenant, Scoped] });
      await expect(app.init()).rejects.toThrow(INTERCEPTOR_NOT_SINGLETON('Scoped'));
      await app.close().catch(() => undefined);
    });
  });
});
