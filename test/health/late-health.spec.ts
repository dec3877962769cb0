/**
 * Missed-run alerts in readiness: `HostingHealthIndicator.isReady({ criticalTasks })` is down while
 * a critical periodic task is late; late tasks are listed in its details either way.
 */
import { Controller, Get, Injectable, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { HostingModule, Periodic, TimeProvider, type TickContext } from '../../src/index.js';
import { HostingHealthIndicator, type HostingReadinessOptions } from '../../src/health/index.js';
import { INVALID_CRITICAL_TASKS } from '../../src/health/health.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { CaptureLogger } from '../support/capture-logger.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

const failing = { billing: true, reports: true };

@Injectable()
class Jobs {
  /** Late at 2.001 s when it keeps failing. */
  @Periodic({ every: 1_000, name: 'billing' })
  billing(_ctx: TickContext) {
    if (failing.billing) throw new Error('billing down');
  }

  /** Late at 10.001 s when it keeps failing (after a success at 1 s: then at 11.001 s). */
  @Periodic({ every: 1_000, name: 'reports', staleAfterMs: 10_000 })
  reports() {
    if (failing.reports) throw new Error('reports down');
  }
}

@Controller('health')
class ReadyController {
  static options: HostingReadinessOptions = {};
  constructor(
    private readonly health: HealthCheckService,
    private readonly hosting: HostingHealthIndicator,
  ) {}

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.hosting.isReady('lifetime', ReadyController.options)]);
  }
}

async function startApp(time: VirtualTime): Promise<{ app: INestApplication; get(path: string): Promise<{ status: number; body: any }> }> {
  const moduleRef = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ shutdownTimeoutMs: 5_000 }), TerminusModule.forRoot({ logger: false })],
    controllers: [ReadyController],
    providers: [HostingHealthIndicator, Jobs],
  })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    async get(path) {
      const response = await fetch(`${base}${path}`);
      return { status: response.status, body: await response.json() };
    },
  };
}

describe('HostingHealthIndicator.isReady: missed-run alerts', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    failing.billing = true;
    failing.reports = true;
    ReadyController.options = {};
  });

  it('without criticalTasks: stays up, and lists late tasks in its details', async () => {
    const time = new VirtualTime({ now: T0 });
    const running = await startApp(time);
    app = running.app;
    expect(await running.get('/health/ready')).toEqual({ status: 200, body: expect.objectContaining({ status: 'ok' }) });
    expect((await running.get('/health/ready')).body.info.lifetime).toEqual({ status: 'up', state: 'running' });
    await time.advance(2_001);
    const { status, body } = await running.get('/health/ready');
    expect(status).toBe(200);
    expect(body.info.lifetime).toEqual({ status: 'up', state: 'running', late: [{ name: 'billing', dueBy: iso(2_000) }] });
  });

  it('is down while a task named in criticalTasks is late, up again once it succeeds', async () => {
    ReadyController.options = { criticalTasks: ['reports'] };
    failing.reports = false;
    const time = new VirtualTime({ now: T0 });
    const running = await startApp(time);
    app = running.app;
    await time.advance(1_000); // reports succeeds at 1 s, then fails
    failing.reports = true;
    await time.advance(5_000);
    // billing is late, but not critical
    expect((await running.get('/health/ready')).status).toBe(200);
    await time.advance(11_001 - 6_000);
    const { status, body } = await running.get('/health/ready');
    expect(status).toBe(503);
    expect(body.error.lifetime).toEqual({
      status: 'down',
      state: 'running',
      late: [
        { name: 'billing', dueBy: iso(2_000) },
        { name: 'reports', lastSucceededAt: iso(1_000), dueBy: iso(11_000) },
      ],
      criticalLate: ['reports'],
    });
    failing.reports = false;
    await time.advance(1_000);
    const after = await running.get('/health/ready');
    expect(after.status).toBe(200);
    expect(after.body.info.lifetime.late).toEqual([{ name: 'billing', dueBy: iso(2_000) }]);
  });

  it("criticalTasks 'all' counts every periodic task, but those in ignore", async () => {
    const time = new VirtualTime({ now: T0 });
    const running = await startApp(time);
    app = running.app;
    const indicator = running.app.get(HostingHealthIndicator);
    await time.advance(2_000);
    expect(indicator.isReady('ready', { criticalTasks: 'all' })).toEqual({ ready: { status: 'up', state: 'running' } });
    await time.advance(1);
    expect(indicator.isReady('ready', { criticalTasks: 'all' })).toMatchObject({ ready: { status: 'down', criticalLate: ['billing'] } });
    expect(indicator.isReady('ready', { criticalTasks: 'all', ignore: ['billing'] })).toMatchObject({
      ready: { status: 'up', late: [{ name: 'billing' }] },
    });
    expect(indicator.isReady('ready', { criticalTasks: [] })).toMatchObject({ ready: { status: 'up' } });
  });

  it.each([['billing'], [42], [['billing', 7]], [null], [{}]])('refuses criticalTasks %p with a TypeError quoting it', async (value) => {
    const time = new VirtualTime({ now: T0 });
    const running = await startApp(time);
    app = running.app;
    expect(() => running.app.get(HostingHealthIndicator).isReady('lifetime', { criticalTasks: value as never })).toThrow(
      new TypeError(INVALID_CRITICAL_TASKS(value)),
    );
  });

  it('the message names the indicator, method, option and value', () => {
    expect(INVALID_CRITICAL_TASKS('billing')).toBe(
      `HostingHealthIndicator.isReady: option "criticalTasks" must be 'all' or an array of periodic task names, got "billing"`,
    );
  });
});
