import { Controller, Get, Injectable, type INestApplication, type Provider } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { BackgroundService, HostingModule, HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { INVALID_OVERDUE_PERIODS, INVALID_READINESS_IGNORE } from '../../src/health/health.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');

@Controller('health')
class HealthController {
  static overduePeriods = 3;
  constructor(
    private readonly health: HealthCheckService,
    private readonly hosting: HostingHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.hosting.isHealthy('hosting', { overduePeriods: HealthController.overduePeriods })]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.hosting.isReady('lifetime')]);
  }
}

interface Running {
  app: INestApplication;
  get(path: string): Promise<{ status: number; body: any }>;
}

/** On virtual time when `time` is given: the indicator reads the host's TimeProvider. */
async function startApp(providers: Provider[], overduePeriods = 3, time?: VirtualTime): Promise<Running> {
  HealthController.overduePeriods = overduePeriods;
  const moduleRef = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ shutdownTimeoutMs: 10_000, timeProvider: time }), TerminusModule.forRoot({ logger: false })],
    controllers: [HealthController],
    providers: [HostingHealthIndicator, ...providers],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const base = await app.getUrl();
  return {
    app,
    async get(path) {
      const response = await fetch(`${base.replace('[::1]', '127.0.0.1')}${path}`);
      return { status: response.status, body: await response.json() };
    },
  };
}

describe('HostingHealthIndicator (terminus)', () => {
  let running: Running | undefined;
  afterEach(async () => {
    await running?.app.close();
    running = undefined;
  });

  describe('when every service runs', () => {
    it('reports up, with the number of hosted units', async () => {
      @BackgroundService()
      class Pump {
        execute(signal: AbortSignal) {
          return untilAborted(signal);
        }
      }
      @Injectable()
      class Cleanup {
        @Periodic(50)
        purge() {}
      }
      const time = new VirtualTime({ now: T0 });
      running = await startApp([Pump, Cleanup], 3, time);
      await time.advance(200);
      expect(running.app.get(HostingRegistry).get('Cleanup.purge')?.runs).toBe(4);
      const { status, body } = await running.get('/health');
      expect(status).toBe(200);
      expect(body.status).toBe('ok');
      expect(body.info.hosting).toEqual({ status: 'up', services: 2 });
    });
  });

  describe('when a background service is faulted', () => {
    it('reports down and names it', async () => {
      @BackgroundService({ name: 'InventorySync', onError: 'ignore' })
      class InventorySync {
        async execute() {
          throw new Error('upstream is gone');
        }
      }
      running = await startApp([InventorySync]);
      const registry = running.app.get(HostingRegistry);
      await waitFor(() => registry.get('InventorySync')?.state === 'faulted', 10_000, 'the fault');
      const { status, body } = await running.get('/health');
      expect(status).toBe(503);
      expect(body.error.hosting).toEqual({ status: 'down', services: 1, faulted: ['InventorySync'], overdue: [] });
    });
  });

  describe('when a periodic run hangs for more than overduePeriods periods', () => {
    const time = { current: new VirtualTime({ now: T0 }) };
    @Injectable()
    class Stuck {
      @Periodic({ every: 100, runOnStart: true, name: 'stuck' })
      async run(ctx: TickContext) {
        if (ctx.tick === 1) await time.current.delay(10_000, ctx.signal); // the first run takes 10 s (virtual)
      }
    }
    beforeEach(() => {
      time.current = new VirtualTime({ now: T0 });
    });

    it('reports down with how late it is', async () => {
      running = await startApp([Stuck], 3, time.current);
      await time.current.advance(200);
      expect((await running.get('/health')).status).toBe(200); // late by 100 ms: less than 3 periods yet
      await time.current.advance(100);
      expect((await running.get('/health')).status).toBe(200); // late by exactly 3 periods: not more
      await time.current.advance(300);
      const { status, body } = await running.get('/health');
      expect(status).toBe(503);
      expect(body.error.hosting.faulted).toEqual([]);
      // started at 0, due again at 100, now 600
      expect(body.error.hosting.overdue).toEqual([{ name: 'stuck', periodMs: 100, overdueMs: 500 }]);

      const registry = running.app.get(HostingRegistry);
      await time.current.advance(9_400); // the run ends at 10 s; the passed slots coalesce into one run
      expect(registry.get('stuck')).toMatchObject({ runs: 2, state: 'idle' });
      expect((await running.get('/health')).status).toBe(200);
    });

    it('stays up while the run is late by fewer than overduePeriods periods', async () => {
      running = await startApp([Stuck], 1_000, time.current);
      await time.current.advance(600);
      expect((await running.get('/health')).status).toBe(200);
      expect(running.app.get(HostingRegistry).get('stuck')).toMatchObject({ state: 'running', runs: 1 });
    });
  });

  describe('readiness (isReady)', () => {
    it('is down before the host has started and up once it has', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [HostingModule.forRoot(), TerminusModule],
        providers: [HostingHealthIndicator],
      })
        .setLogger(new CaptureLogger())
        .compile();
      const indicator = moduleRef.get(HostingHealthIndicator);
      expect(indicator.isReady()).toEqual({ lifetime: { status: 'down', state: 'starting' } });
      await moduleRef.init();
      expect(indicator.isReady()).toEqual({ lifetime: { status: 'up', state: 'running' } });
      await moduleRef.close();
      expect(indicator.isReady()).toEqual({ lifetime: { status: 'down', state: 'stopping' } });
    });

    it('answers 503 over HTTP while in-flight work drains at shutdown', async () => {
      let drained!: () => void;
      const draining = new Promise<void>((resolve) => (drained = resolve));
      let stopAsked!: () => void;
      const stopRequested = new Promise<void>((resolve) => (stopAsked = resolve));
      @BackgroundService()
      class SlowToStop {
        async execute(signal: AbortSignal) {
          await untilAborted(signal);
          stopAsked();
          await draining; // finishing in-flight work
        }
      }
      running = await startApp([SlowToStop]);
      expect((await running.get('/health/ready')).status).toBe(200);
      const closing = running.app.close();
      await stopRequested;
      const { status, body } = await running.get('/health/ready');
      expect(status).toBe(503);
      expect(body.error.lifetime).toEqual({ status: 'down', state: 'stopping' });
      drained();
      await closing;
      running = undefined;
    });
  });

  it('rejects a bad readiness ignore list with a message quoting it', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot(), TerminusModule],
      providers: [HostingHealthIndicator],
    }).compile();
    expect(() => moduleRef.get(HostingHealthIndicator).isReady('lifetime', { ignore: 'emails' as never })).toThrow(INVALID_READINESS_IGNORE('emails'));
    await moduleRef.close();
  });

  it('rejects a bad overduePeriods with a message quoting it', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot(), TerminusModule],
      providers: [HostingHealthIndicator],
    }).compile();
    expect(() => moduleRef.get(HostingHealthIndicator).isHealthy('hosting', { overduePeriods: -1 })).toThrow(INVALID_OVERDUE_PERIODS(-1));
    await moduleRef.close();
  });
});
