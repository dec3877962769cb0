import { Controller, Get, Injectable, type INestApplication, type Provider } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { BackgroundService, HostingModule, HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { INVALID_OVERDUE_PERIODS, INVALID_READINESS_IGNORE } from '../../src/health/health.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { sleep, untilAborted, waitFor } from '../support/hosting-app.js';

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

async function startApp(providers: Provider[], overduePeriods = 3): Promise<Running> {
  HealthController.overduePeriods = overduePeriods;
  const moduleRef = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ shutdownTimeoutMs: 10_000 }), TerminusModule.forRoot({ logger: false })],
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
      running = await startApp([Pump, Cleanup]);
      await sleep(200);
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
    const release = { gate: Promise.resolve(), open: () => {} };
    @Injectable()
    class Stuck {
      @Periodic({ every: 100, runOnStart: true, name: 'stuck' })
      async run(ctx: TickContext) {
        if (ctx.tick === 1) await release.gate;
      }
    }
    beforeEach(() => {
      release.gate = new Promise<void>((resolve) => (release.open = resolve));
    });
    afterEach(() => release.open());

    it('reports down with how late it is', async () => {
      running = await startApp([Stuck], 3);
      await sleep(200);
      expect((await running.get('/health')).status).toBe(200); // late by less than 3 periods yet
      await sleep(400);
      const { status, body } = await running.get('/health');
      expect(status).toBe(503);
      expect(body.error.hosting.faulted).toEqual([]);
      expect(body.error.hosting.overdue).toEqual([{ name: 'stuck', periodMs: 100, overdueMs: expect.any(Number) }]);
      expect(body.error.hosting.overdue[0].overdueMs).toBeGreaterThan(300);

      release.open();
      const registry = running.app.get(HostingRegistry);
      await waitFor(() => registry.get('stuck')!.runs >= 2, 10_000, 'the next run');
      await waitFor(() => registry.get('stuck')!.state === 'idle', 10_000, 'idle');
      expect((await running.get('/health')).status).toBe(200);
    });

    it('stays up while the run is late by fewer than overduePeriods periods', async () => {
      running = await startApp([Stuck], 1_000);
      await sleep(600);
      expect((await running.get('/health')).status).toBe(200);
      release.open();
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
