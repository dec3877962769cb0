import { Inject, Injectable, Scope, type OnApplicationBootstrap, type Provider } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import {
  HostingModule,
  HostingRegistry,
  Periodic,
  ServiceKindError,
  ServiceStateError,
  TickContext,
  TimeProvider,
  UnknownServiceError,
} from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { HostingDashboardModule } from '../../src/dashboard/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import {
  ADD_WHILE_STOPPING,
  DUPLICATE_NAME,
  INVALID_ARGUMENT,
  INVALID_PERIOD,
  NOT_A_PROVIDER_METHOD,
  REMOVE_ABANDONED,
  UNIT_REMOVED,
  UNKNOWN_OPTION,
  UNKNOWN_PROVIDER,
} from '../../src/hosting.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startOnTime, untilAborted, type HostingAppOptions } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A promise with its resolve, for a run that the test lets finish. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function start(providers: Provider[], time: VirtualTime, { imports = [], shutdownTimeoutMs = 5_000, queue = false }: { imports?: HostingAppOptions['imports']; shutdownTimeoutMs?: number; queue?: boolean } = {}) {
  return startOnTime(time, { providers, imports: [...(queue ? [HostingModule.registerQueue({ name: 'mail' })] : []), ...imports], hosting: { shutdownTimeoutMs } });
}

describe('HostingRegistry: tasks added at run time', () => {
  it('addPeriodic before start: registered, started with the others, with status, trigger, pause and resume', async () => {
    const seen: string[] = [];
    @Injectable()
    class Setup implements OnApplicationBootstrap {
      constructor(private readonly registry: HostingRegistry) {}
      onApplicationBootstrap() {
        this.registry.addPeriodic('sweep', 60_000, (ctx) => seen.push(`${ctx.tick}@${ctx.scheduledAt.toISOString()}${ctx.triggered ? ' (triggered)' : ''}`));
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Setup], time);
    try {
      expect(registry.get('sweep')).toMatchObject({ kind: 'periodic', state: 'idle', schedule: 'every 60000 ms', nextRunAt: new Date(T0 + 60_000) });
      await time.advance(120_000);
      expect(seen).toEqual([`1@${iso(T0 + 60_000)}`, `2@${iso(T0 + 120_000)}`]);
      await registry.trigger('sweep');
      expect(seen[2]).toBe(`3@${iso(T0 + 120_000)} (triggered)`);
      registry.pause('sweep');
      await time.advance(180_000);
      expect(seen).toHaveLength(3);
      registry.resume('sweep');
      await time.advance(60_000);
      expect(seen).toHaveLength(4);
      expect(registry.get('sweep')).toMatchObject({ runs: 4, failures: 0 });
    } finally {
      await moduleRef.close();
    }
  });

  it('addPeriodic while the host runs starts at once: a cron schedule in its time zone', async () => {
    const seen: string[] = [];
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    try {
      registry.addPeriodic('paris-noon', { cron: '0 0 12 * * *', timeZone: 'Europe/Paris' }, (ctx) => void seen.push(ctx.scheduledAt.toISOString()));
      expect(registry.get('paris-noon')).toMatchObject({ state: 'idle', nextRunAt: new Date('2026-06-01T10:00:00.000Z') });
      await time.advance(48 * 3_600_000);
      expect(seen).toEqual(['2026-06-01T10:00:00.000Z', '2026-06-02T10:00:00.000Z']);
    } finally {
      await moduleRef.close();
    }
  });

  it('a handler naming a request-scoped provider gets a fresh instance, in its own scope, per run', async () => {
    const instances: Array<{ id: number; request: unknown }> = [];
    let made = 0;
    @Injectable({ scope: Scope.REQUEST })
    class Sweeper {
      readonly id = ++made;
      constructor(@Inject(REQUEST) readonly request: unknown) {}
      sweep(ctx: TickContext) {
        instances.push({ id: this.id, request: this.request });
        expect(this.request).toBe(ctx);
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Sweeper], time);
    try {
      registry.addPeriodic('sweeper', { every: 1_000 }, { provider: Sweeper, method: 'sweep' }, { timeoutMs: 500 });
      await time.advance(3_000);
      expect(instances.map((i) => i.id)).toEqual([1, 2, 3]);
      expect(instances.every((i) => i.request instanceof TickContext)).toBe(true);
      expect(registry.get('sweeper')).toMatchObject({ runs: 3, failures: 0 });
    } finally {
      await moduleRef.close();
    }
  });

  it('per-tenant schedules from a database: each tenant a cron in its own zone, a request-scoped repository per run', async () => {
    interface TenantRow {
      id: string;
      timeZone: string;
      cron: string;
    }
    @Injectable()
    class TenantStore {
      readonly rows: TenantRow[] = [
        { id: 'berlin', timeZone: 'Europe/Berlin', cron: '0 0 6 * * *' },
        { id: 'nyc', timeZone: 'America/New_York', cron: '0 0 6 * * *' },
        { id: 'tokyo', timeZone: 'Asia/Tokyo', cron: '0 30 7 * * 1-5' },
      ];
      async load(): Promise<TenantRow[]> {
        await Promise.resolve();
        return this.rows;
      }
    }
    let repositories = 0;
    const reports: Array<{ tenant: string; at: string; repository: number }> = [];
    @Injectable({ scope: Scope.REQUEST })
    class TenantRepository {
      readonly instance = ++repositories;
      readonly tenant: string;
      constructor(@Inject(REQUEST) ctx: TickContext) {
        this.tenant = ctx.name.slice('report:'.length);
      }
    }
    @Injectable()
    class TenantReport {
      constructor(private readonly repository: TenantRepository) {}
      run(ctx: TickContext) {
        reports.push({ tenant: this.repository.tenant, at: ctx.scheduledAt.toISOString(), repository: this.repository.instance });
      }
    }
    @Injectable()
    class TenantScheduler implements OnApplicationBootstrap {
      constructor(
        private readonly store: TenantStore,
        private readonly registry: HostingRegistry,
      ) {}
      async onApplicationBootstrap() {
        for (const tenant of await this.store.load()) {
          this.registry.addPeriodic(`report:${tenant.id}`, { cron: tenant.cron, timeZone: tenant.timeZone }, { provider: TenantReport, method: 'run' });
        }
      }
    }
    // Monday 1 June 2026, 00:00 UTC.
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([TenantStore, TenantRepository, TenantReport, TenantScheduler], time);
    try {
      expect(registry.list().map((s) => [s.name, s.schedule])).toEqual([
        ['report:berlin', 'cron 0 0 6 * * * (Europe/Berlin)'],
        ['report:nyc', 'cron 0 0 6 * * * (America/New_York)'],
        ['report:tokyo', 'cron 0 30 7 * * 1-5 (Asia/Tokyo)'],
      ]);
      await time.advance(24 * 3_600_000);
      expect(reports).toEqual([
        { tenant: 'berlin', at: '2026-06-01T04:00:00.000Z', repository: 1 }, // 06:00 CEST
        { tenant: 'nyc', at: '2026-06-01T10:00:00.000Z', repository: 2 }, // 06:00 EDT
        { tenant: 'tokyo', at: '2026-06-01T22:30:00.000Z', repository: 3 }, // Tuesday 07:30 JST
      ]);
      // A tenant is removed from the database: its schedule goes, the others stay.
      await registry.remove('report:nyc');
      await time.advance(24 * 3_600_000);
      expect(reports.slice(3).map((r) => r.tenant)).toEqual(['berlin', 'tokyo']);
      expect(new Set(reports.map((r) => r.repository)).size).toBe(5);
    } finally {
      await moduleRef.close();
    }
  });

  it('addBackgroundService: execute gets the host signal; the host stops it at shutdown like a decorated one', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry, logger } = await start([], time);
    let signal: AbortSignal | undefined;
    const started = deferred();
    registry.addBackgroundService('pump', async (s) => {
      signal = s;
      started.resolve();
      await untilAborted(s);
    });
    await started.promise;
    expect(registry.get('pump')).toMatchObject({ kind: 'background', state: 'running', runs: 1 });
    await moduleRef.close();
    expect(signal!.aborted).toBe(true);
    expect(registry.get('pump')).toMatchObject({ state: 'stopped' });
    expect(logger.find('log', 'Host stopped gracefully')[0]?.message).toContain('1 background service');
  });

  it('addBackgroundService: onError and restart apply as to a decorated service (restart backoff on the host clock)', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    let calls = 0;
    try {
      registry.addBackgroundService(
        'flaky',
        async () => {
          calls++;
          throw new Error(`boom ${calls}`);
        },
        { onError: 'restart', restart: { maxRestarts: 5, initialDelayMs: 1_000 } },
      );
      await registry.whenIdle();
      expect(calls).toBe(1);
      await time.advance(1_000);
      expect(calls).toBe(2);
      await time.advance(2_000);
      expect(calls).toBe(3);
      expect(registry.get('flaky')).toMatchObject({ failures: 3, lastError: { message: 'boom 3' } });
    } finally {
      await moduleRef.close();
    }
  });

  it('addDelayed(ms) before start runs once, ms after start, in a scope per run; listed as stopped until removed', async () => {
    let made = 0;
    const runs: Array<{ instance: number; at: number }> = [];
    @Injectable({ scope: Scope.REQUEST })
    class Warmup {
      readonly instance = ++made;
      run() {
        runs.push({ instance: this.instance, at: time.now() });
      }
    }
    @Injectable()
    class Setup implements OnApplicationBootstrap {
      constructor(private readonly registry: HostingRegistry) {}
      onApplicationBootstrap() {
        this.registry.addDelayed('warmup', 30_000, { provider: Warmup, method: 'run' });
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Warmup, Setup], time);
    try {
      expect(registry.get('warmup')).toMatchObject({ kind: 'periodic', state: 'idle', schedule: 'once after 30000 ms', nextRunAt: new Date(T0 + 30_000) });
      await time.advance(29_999);
      expect(runs).toEqual([]);
      await time.advance(1);
      expect(runs).toEqual([{ instance: 1, at: T0 + 30_000 }]);
      await time.advance(3_600_000);
      expect(runs).toHaveLength(1);
      expect(registry.get('warmup')).toMatchObject({ state: 'stopped', runs: 1, nextRunAt: undefined });
      // An extra run through trigger, in a fresh scope.
      await registry.trigger('warmup');
      expect(runs.map((r) => r.instance)).toEqual([1, 2]);
      await registry.remove('warmup');
      expect(registry.get('warmup')).toBeUndefined();
    } finally {
      await moduleRef.close();
    }
  });

  it('addDelayed(Date): runs at that wall-clock time; a Date already past runs at once', async () => {
    const seen: string[] = [];
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    try {
      registry.addDelayed('at-noon', new Date('2026-06-01T12:00:00.000Z'), (ctx) => void seen.push(`noon ${ctx.scheduledAt.toISOString()} ${iso(time.now())}`));
      registry.addDelayed('late', new Date(T0 - 3_600_000), () => void seen.push(`late ${iso(time.now())}`));
      expect(seen).toEqual([]); // never inline
      await time.advance(0); // due now: fires at the current instant
      expect(seen).toEqual([`late ${iso(T0)}`]);
      expect(registry.get('at-noon')?.nextRunAt).toEqual(new Date('2026-06-01T12:00:00.000Z'));
      await time.advance(12 * 3_600_000);
      expect(seen[1]).toBe('noon 2026-06-01T12:00:00.000Z 2026-06-01T12:00:00.000Z');
      expect(registry.get('at-noon')).toMatchObject({ state: 'stopped', runs: 1, schedule: 'once at 2026-06-01T12:00:00.000Z' });
    } finally {
      await moduleRef.close();
    }
  });

  it('addDelayed: paused past its time, it runs on resume (a one-shot is never skipped); the wall clock set back never runs it early', async () => {
    const seen: number[] = [];
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    try {
      registry.addDelayed('held', 10_000, () => void seen.push(time.now()));
      registry.addDelayed('wall', new Date(T0 + 60_000), () => void seen.push(time.now()));
      registry.pause('held');
      expect(registry.get('held')).toMatchObject({ paused: true, nextRunAt: undefined });
      await time.advance(30_000);
      await time.stepWallClock(-3_600_000); // 'wall' is now 1 h and 30 s away
      await time.advance(40_000);
      expect(seen).toEqual([]);
      registry.resume('held');
      await time.advance(0);
      expect(seen).toEqual([T0 - 3_600_000 + 70_000]);
      await time.advance(3_600_000);
      expect(seen).toEqual([T0 - 3_600_000 + 70_000, T0 + 60_000]);
    } finally {
      await moduleRef.close();
    }
  });

  it('remove while a run goes: aborts its signal with the removal reason, waits for it, then unregisters; the name is free again', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    try {
      const running = deferred<AbortSignal>();
      const release = deferred();
      registry.addPeriodic('long', 3_600_000, async (ctx) => {
        running.resolve(ctx.signal);
        await untilAborted(ctx.signal);
        await release.promise; // cleans up after the abort
      });
      const triggered = registry.trigger('long');
      const signal = await running.promise;
      let removed = false;
      const removing = registry.remove('long').then(() => (removed = true));
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(UNIT_REMOVED('long'));
      expect(registry.get('long')?.state).toBe('stopping');
      await new Promise((resolve) => setImmediate(resolve));
      expect(removed).toBe(false);
      release.resolve();
      await removing;
      await triggered;
      expect(registry.get('long')).toBeUndefined();
      registry.addPeriodic('long', 1_000, () => undefined);
      expect(registry.get('long')?.state).toBe('idle');
    } finally {
      await moduleRef.close();
    }
  });

  it('remove gives up on a run that ignores its signal after the shutdown budget, with a warning', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry, logger } = await start([], time, { shutdownTimeoutMs: 200 });
    const never = deferred();
    try {
      const running = deferred();
      registry.addBackgroundService('stubborn', async () => {
        running.resolve();
        await never.promise;
      });
      await running.promise;
      await registry.remove('stubborn');
      expect(registry.get('stubborn')).toBeUndefined();
      expect(logger.find('warn', REMOVE_ABANDONED('stubborn', 200))).toHaveLength(1);
    } finally {
      never.resolve();
      await moduleRef.close();
    }
  });

  it('remove: decorated units too; unknown names and queues are refused', async () => {
    const ticks: number[] = [];
    @Injectable()
    class Job {
      @Periodic(1_000)
      run() {
        ticks.push(time.now());
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Job], time, { queue: true });
    try {
      await time.advance(1_000);
      await registry.remove('Job.run');
      await time.advance(5_000);
      expect(ticks).toEqual([T0 + 1_000]);
      expect(registry.get('Job.run')).toBeUndefined();
      const unknown = await registry.remove('nope').catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(UnknownServiceError);
      expect((unknown as Error).message).toContain('HostingRegistry.remove: no hosted service named "nope"');
      await expect(registry.remove('mail')).rejects.toBeInstanceOf(ServiceKindError);
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses bad input, naming the method, the option and the value', async () => {
    @Injectable()
    class Plain {
      work() {}
    }
    class NotProvided {
      work() {}
    }
    @Injectable()
    class Taken {
      @Periodic(1_000)
      run() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([Plain, Taken], time);
    const fn = () => undefined;
    const where = 'HostingRegistry.addPeriodic("t")';
    try {
      expect(() => registry.addPeriodic('t', -5, fn)).toThrow(INVALID_PERIOD(where, -5, where));
      expect(() => registry.addPeriodic('t', 1_000, fn, { jiterMs: 5 } as never)).toThrow(
        UNKNOWN_OPTION(where, 'jiterMs', 'jitterMs', ['name', 'runOnStart', 'timeoutMs', 'jitterMs', 'exclusive', 'initialDelayMs', 'enabled']).split(' (known')[0],
      );
      expect(() => registry.addPeriodic('t', 1_000, fn, { timeoutMs: 0 })).toThrow(`${where}: option "timeoutMs" must be`);
      expect(() => registry.addPeriodic('t', { every: 1_000, name: 'other' }, fn)).toThrow(`${where}: option "name" must be unset (the name is the first argument), got "other"`);
      expect(() => registry.addPeriodic('t', { cron: 'every day' }, fn)).toThrow(`${where}: invalid cron expression "every day"`);
      expect(() => registry.addPeriodic('', 1_000, fn)).toThrow(INVALID_ARGUMENT('HostingRegistry.addPeriodic', 'name', 'a non-empty string', ''));
      expect(() => registry.addPeriodic('t', 1_000, { provider: NotProvided, method: 'work' })).toThrow(UNKNOWN_PROVIDER(where, NotProvided));
      expect(() => registry.addPeriodic('t', 1_000, { provider: Plain, method: 'nope' as never })).toThrow(NOT_A_PROVIDER_METHOD(where, 'Plain', 'nope'));
      expect(() => registry.addPeriodic('t', 1_000, { provider: Plain, method: 'work', extra: 1 } as never)).toThrow(`${where}: handler: unknown option "extra"`);
      const bg = 'HostingRegistry.addBackgroundService("s")';
      expect(() => registry.addBackgroundService('s', async () => undefined, { onError: 'explode' as never })).toThrow(
        `${bg}: option "onError" must be one of 'stopHost', 'ignore', 'restart', got "explode"`,
      );
      expect(() => registry.addBackgroundService('s', async () => undefined, { onError: 'restart', restart: { initialDelayMs: 0 } })).toThrow(
        `${bg}: option "restart.initialDelayMs" must be`,
      );
      expect(() => registry.addBackgroundService('s', 'execute' as never)).toThrow(INVALID_ARGUMENT(bg, 'execute', 'a function (signal: AbortSignal) => Promise<void>', 'execute'));
      const delayed = 'HostingRegistry.addDelayed("d")';
      expect(() => registry.addDelayed('d', -1, fn)).toThrow(INVALID_ARGUMENT(delayed, 'delay', 'a number of milliseconds from 0 to 100 years, or a valid Date', -1));
      expect(() => registry.addDelayed('d', new Date('nonsense'), fn)).toThrow(`${delayed}: delay must be`);
      // A name in use, by a decorated task or one added at run time.
      expect(() => registry.addPeriodic('Taken.run', 1_000, fn)).toThrow(DUPLICATE_NAME('Taken.run', 'Taken.run', 'HostingRegistry.addPeriodic("Taken.run")'));
      registry.addDelayed('d', 1_000, fn);
      expect(() => registry.addBackgroundService('d', async () => undefined)).toThrow(
        DUPLICATE_NAME('d', 'HostingRegistry.addDelayed("d")', 'HostingRegistry.addBackgroundService("d")'),
      );
      // Nothing refused was registered.
      expect(registry.list().map((s) => s.name)).toEqual(['Taken.run', 'd']);
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses adding once the host stopped (ServiceStateError, a 409)', async () => {
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await start([], time);
    await moduleRef.close();
    const error = (() => {
      try {
        registry.addPeriodic('late', 1_000, () => undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ServiceStateError);
    expect((error as Error).message).toBe(ADD_WHILE_STOPPING('addPeriodic', 'late'));
    expect(() => registry.addDelayed('late', 1, () => undefined)).toThrow(ServiceStateError);
    expect(registry.get('late')).toBeUndefined();
  });

  it('follows forRoot({ enabled }) and its own enabled: a task turned off is listed as disabled and never runs', async () => {
    const time = new VirtualTime({ now: T0 });
    const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot({ enabled: { periodic: false } })] })
      .overrideProvider(TimeProvider)
      .useValue(time)
      .setLogger(new CaptureLogger())
      .compile();
    await moduleRef.init();
    const registry = moduleRef.get(HostingRegistry);
    let runs = 0;
    try {
      registry.addPeriodic('off', 1_000, () => void runs++);
      registry.addBackgroundService('own-off', async () => void runs++, { enabled: false });
      registry.addDelayed('on', 1_000, () => void runs++);
      await time.advance(5_000);
      expect(runs).toBe(1);
      expect(registry.list().map((s) => [s.name, s.state])).toEqual([
        ['off', 'disabled'],
        ['own-off', 'disabled'],
        ['on', 'stopped'],
      ]);
    } finally {
      await moduleRef.close();
    }
  });

  it('shows in health (a faulted run-time service) and in the dashboard JSON', async () => {
    const time = new VirtualTime({ now: T0 });
    const logger = new CaptureLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ shutdownTimeoutMs: 5_000 }), TerminusModule.forRoot({ logger: false }), HostingDashboardModule.register()],
      providers: [HostingHealthIndicator],
    })
      .overrideProvider(TimeProvider)
      .useValue(time)
      .setLogger(logger)
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const registry = app.get(HostingRegistry);
      registry.addBackgroundService('importer', () => Promise.reject(new Error('feed down')), { onError: 'ignore' });
      registry.addPeriodic('tenant:42', { cron: '0 0 6 * * *', timeZone: 'Europe/Berlin' }, () => undefined);
      await registry.whenIdle();
      expect(app.get(HostingHealthIndicator).isHealthy()).toMatchObject({ hosting: { status: 'down', faulted: ['importer'] } });
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      const body = (await (await fetch(`${url}/hosting/status.json`)).json()) as { services: Array<{ name: string; schedule?: string }> };
      expect(body.services.find((s) => s.name === 'tenant:42')).toMatchObject({ schedule: 'cron 0 0 6 * * * (Europe/Berlin)' });
    } finally {
      await app.close();
    }
  });
});
