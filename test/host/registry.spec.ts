import { Controller, Injectable, Param, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  HostLifetime,
  Periodic,
  ServiceKindError,
  UnknownServiceError,
  type TickContext,
} from '../../src/index.js';
import { UNKNOWN_SERVICE, WRONG_KIND } from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

@BackgroundService({ name: 'pump' })
class Pump {
  async execute(signal: AbortSignal) {
    await untilAborted(signal);
  }
}

describe('HostingRegistry', () => {
  it('lists every hosted unit with its kind, state and counters', async () => {
    @Injectable()
    class Jobs {
      @Periodic(3_600_000)
      hourly() {}
    }
    const { app } = await startHostingApp({ providers: [Pump, Jobs] });
    await waitFor(() => app.get(HostingRegistry).get('pump')?.state === 'running');
    const list = app.get(HostingRegistry).list();
    expect(list.map((s) => [s.name, s.kind, s.state])).toEqual([
      ['pump', 'background', 'running'],
      ['Jobs.hourly', 'periodic', 'idle'],
    ]);
    const hourly = list[1];
    expect(hourly).toMatchObject({ runs: 0, failures: 0, consecutiveFailures: 0, missedTicks: 0, paused: false });
    expect(hourly.nextRunAt!.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect(app.get(HostingRegistry).get('nope')).toBeUndefined();
    await app.close();
    expect(app.get(HostingRegistry).list().map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });

  it('trigger runs a task now and resolves when that run finished', async () => {
    const time = new VirtualTime({ now: T0 });
    const runs: TickContext[] = [];
    @Injectable()
    class Jobs {
      @Periodic(3_600_000)
      async hourly(ctx: TickContext) {
        await time.delay(20);
        runs.push(ctx);
      }
    }
    const { app } = await startHostingApp({ time,  providers: [Jobs] });
    try {
      const registry = app.get(HostingRegistry);
      let finished = false;
      const triggered = registry.trigger('Jobs.hourly').then(() => (finished = true));
      await time.advance(19);
      expect(finished).toBe(false);
      await time.advance(1);
      await triggered;
      expect(runs).toHaveLength(1);
      expect(runs[0].triggered).toBe(true);
      const status = registry.get('Jobs.hourly')!;
      expect(status).toMatchObject({ runs: 1, state: 'idle', lastDurationMs: 20 });
      // the schedule goes on: the hourly slot is still armed
      expect(status.nextRunAt).toEqual(new Date(T0 + 3_600_000));
    } finally {
      await app.close();
    }
  });

  it('trigger while a run is going queues one follow-up run: runs never overlap', async () => {
    const time = new VirtualTime({ now: T0 });
    let running = 0;
    let maxRunning = 0;
    const startedAt: number[] = [];
    @Injectable()
    class Jobs {
      @Periodic(3_600_000)
      async slow() {
        running++;
        startedAt.push(time.monotonic());
        maxRunning = Math.max(running, maxRunning);
        await time.delay(60);
        running--;
      }
    }
    const { app } = await startHostingApp({ time,  providers: [Jobs] });
    try {
      const registry = app.get(HostingRegistry);
      const first = registry.trigger('Jobs.slow');
      const second = registry.trigger('Jobs.slow');
      const third = registry.trigger('Jobs.slow');
      await time.advance(120);
      await Promise.all([first, second, third]);
      expect(startedAt).toEqual([0, 60]);
      expect(maxRunning).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('a scheduled slot that comes due during a triggered run is folded into one run after it, never on top of it', async () => {
    const time = new VirtualTime({ now: T0 });
    let running = 0;
    let maxRunning = 0;
    const runs: Array<{ triggered: boolean; at: number; missed: number }> = [];
    @Injectable()
    class Jobs {
      @Periodic(50)
      async work(ctx: TickContext) {
        running++;
        maxRunning = Math.max(running, maxRunning);
        runs.push({ triggered: ctx.triggered, at: time.monotonic(), missed: ctx.missedTicks });
        if (ctx.triggered) await time.delay(160);
        running--;
      }
    }
    const { app } = await startHostingApp({ time,  providers: [Jobs] });
    try {
      const triggered = app.get(HostingRegistry).trigger('Jobs.work');
      await time.advance(160);
      await triggered;
      expect(maxRunning).toBe(1);
      // slots at 50, 100 and 150 ms became one run when the triggered run ended at 160 ms
      expect(runs).toEqual([
        { triggered: true, at: 0, missed: 0 },
        { triggered: false, at: 160, missed: 2 },
      ]);
    } finally {
      await app.close();
    }
  });

  it('pause stops the ticks and resume starts them again', async () => {
    const time = new VirtualTime({ now: T0 });
    const ticks: number[] = [];
    @Injectable()
    class Jobs {
      @Periodic(15)
      often() {
        ticks.push(time.monotonic());
      }
    }
    const { app } = await startHostingApp({ time,  providers: [Jobs] });
    try {
      const registry = app.get(HostingRegistry);
      await time.advance(30);
      expect(ticks).toEqual([15, 30]);
      registry.pause('Jobs.often');
      expect(registry.get('Jobs.often')).toMatchObject({ paused: true, nextRunAt: undefined });
      await time.advance(150);
      expect(ticks).toEqual([15, 30]);
      registry.resume('Jobs.often');
      await time.advance(30);
      expect(ticks.slice(2)).toEqual([195, 210]); // back on the 15 ms grid, no catch-up of the paused slots
      expect(registry.get('Jobs.often')).toMatchObject({ paused: false, missedTicks: 0 });
    } finally {
      await app.close();
    }
  });

  it('names the unknown service and the known ones', async () => {
    const { app } = await startHostingApp({ providers: [Pump] });
    const registry = app.get(HostingRegistry);
    await expect(registry.trigger('pmup')).rejects.toThrow(UNKNOWN_SERVICE('trigger', 'pmup', ['pump']));
    await expect(registry.trigger('pump')).rejects.toThrow(WRONG_KIND('trigger', 'pump', 'background', 'periodic'));
    expect(() => registry.pause('pump')).toThrow(WRONG_KIND('pause', 'pump', 'background', 'periodic and queue'));
    await app.close();
  });

  it('trigger rejects rather than throws, with error classes an HTTP admin controller answers 404 and 409 for', async () => {
    @Controller('admin/hosting')
    class HostingAdmin {
      constructor(private readonly registry: HostingRegistry) {}
      @Post(':name/run') run(@Param('name') name: string) {
        return this.registry.trigger(name);
      }
      @Post(':name/pause') pause(@Param('name') name: string) {
        this.registry.pause(name);
      }
    }
    const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot()], controllers: [HostingAdmin], providers: [Pump] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const registry = app.get(HostingRegistry);
    let thrown: unknown;
    let result: Promise<void> | undefined;
    try {
      result = registry.trigger('nope');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await expect(result).rejects.toBeInstanceOf(UnknownServiceError);
    await expect(registry.trigger('nope')).rejects.toMatchObject({ serviceName: 'nope', known: ['pump'], method: 'trigger' });
    expect(() => registry.resume('pump')).toThrow(ServiceKindError);

    const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/admin/hosting`;
    const unknown = await fetch(`${base}/nope/run`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { message: string }).message).toBe(UNKNOWN_SERVICE('trigger', 'nope', ['pump']));
    expect((await fetch(`${base}/pump/run`, { method: 'POST' })).status).toBe(409);
    expect((await fetch(`${base}/pump/pause`, { method: 'POST' })).status).toBe(409);
    expect((await fetch(`${base}/nope/pause`, { method: 'POST' })).status).toBe(404);
    await app.close();
  });
});

describe('HostLifetime', () => {
  it('started, stopping and stopped follow the app', async () => {
    const { app } = await startHostingApp({ providers: [Pump] });
    const lifetime = app.get(HostLifetime);
    await lifetime.started;
    expect(lifetime.stopping.aborted).toBe(false);
    const closing = app.close();
    expect(lifetime.stopping.aborted).toBe(false); // close() begins with onModuleDestroy
    await closing;
    expect(lifetime.stopping.aborted).toBe(true);
    expect(lifetime.stopping.reason).toBe('the application is closing');
    await expect(lifetime.stopped).resolves.toBeUndefined();
  });
});
