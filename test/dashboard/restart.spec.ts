/**
 * `HostingRegistry.restart` (a faulted background service starts again) and the dashboard's
 * Restart action (`POST /<path>/services/:name/restart`), with its refusals and the origin check.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  HostLifetime,
  Periodic,
  QueueWorker,
  ServiceKindError,
  ServiceStateError,
  UnknownServiceError,
  type HostingOptions,
} from '../../src/index.js';
import { HostingDashboardModule } from '../../src/dashboard/index.js';
import { DASHBOARD_ACTION_HEADER_MISSING, DASHBOARD_FOREIGN_ORIGIN } from '../../src/dashboard/dashboard.messages.js';
import { NOT_RESTARTABLE, SERVICE_RESTARTED, UNKNOWN_SERVICE, WRONG_KIND } from '../../src/hosting.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';

/** Fails its first run (onError 'ignore': faulted, the app runs on); later runs wait for the stop. */
const fragile = { calls: 0, failUntil: 1 };

@BackgroundService({ name: 'Fragile', onError: 'ignore' })
class Fragile {
  async execute(signal: AbortSignal) {
    fragile.calls++;
    if (fragile.calls <= fragile.failUntil) throw new Error(`run ${fragile.calls} failed`);
    await untilAborted(signal);
  }
}

@BackgroundService({ name: 'Pump' })
class Pump {
  execute(signal: AbortSignal) {
    return untilAborted(signal);
  }
}

@Injectable()
class Tasks {
  @Periodic({ every: 3_600_000, name: 'Reports.daily' })
  report() {}

  @QueueWorker('emails')
  send() {}
}

interface Running {
  app: INestApplication;
  url: string;
  logger: CaptureLogger;
  registry: HostingRegistry;
}

async function startApp(providers: Array<new (...args: never[]) => unknown> = [], hosting: HostingOptions = {}): Promise<Running> {
  const logger = new CaptureLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 2_000, ...hosting }),
      HostingModule.registerQueue({ name: 'emails' }),
      HostingDashboardModule.register({ readOnly: false }),
    ],
    providers: [Fragile, Pump, Tasks, ...providers],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.useLogger(logger);
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, url, logger, registry: app.get(HostingRegistry) };
}

/** What `fn` threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('HostingRegistry.restart', () => {
  let running: Running | undefined;

  beforeEach(() => {
    fragile.calls = 0;
    fragile.failUntil = 1;
    process.exitCode = undefined;
  });

  afterEach(async () => {
    await running?.app.close();
    running = undefined;
    process.exitCode = undefined;
  });

  it('starts a faulted service again on a later turn of the event loop, counted in runs and logged', async () => {
    running = await startApp();
    const { registry, logger } = running;
    await waitFor(() => registry.get('Fragile')?.state === 'faulted', 20_000, 'Fragile to fault');
    expect(registry.get('Fragile')).toMatchObject({ runs: 1, failures: 1, lastError: { message: 'run 1 failed' } });

    registry.restart('Fragile');
    // Not inline: execute gets its turn later, as at start-up.
    expect(fragile.calls).toBe(1);
    expect(registry.get('Fragile')!.state).toBe('starting');
    await waitFor(() => registry.get('Fragile')?.state === 'running', 20_000, 'Fragile to run again');
    expect(fragile.calls).toBe(2);
    expect(registry.get('Fragile')).toMatchObject({ runs: 2, failures: 1 });
    expect(logger.find('log', SERVICE_RESTARTED('Fragile', 1))).toHaveLength(1);
    expect(running.app.get(HostLifetime).isRunning).toBe(true);

    // A restarted service stops with the app like any other.
    const app = running.app;
    running = undefined;
    await app.close();
    expect(registry.get('Fragile')!.state).toBe('stopped');
  });

  it('restarts as often as the service faults', async () => {
    fragile.failUntil = 2;
    running = await startApp();
    const { registry } = running;
    await waitFor(() => registry.get('Fragile')?.state === 'faulted', 20_000, 'the first fault');
    registry.restart('Fragile');
    await waitFor(() => registry.get('Fragile')?.failures === 2 && registry.get('Fragile')?.state === 'faulted', 20_000, 'the second fault');
    registry.restart('Fragile');
    await waitFor(() => registry.get('Fragile')?.state === 'running', 20_000, 'the third run');
    expect(registry.get('Fragile')).toMatchObject({ runs: 3, failures: 2, consecutiveFailures: 2 });
  });

  it('refuses a running service (ServiceStateError, 409), other kinds (ServiceKindError) and unknown names', async () => {
    running = await startApp();
    const { registry } = running;
    await waitFor(() => registry.get('Pump')?.state === 'running', 20_000, 'Pump to run');

    const refused = thrown(() => registry.restart('Pump'));
    expect(refused).toBeInstanceOf(ServiceStateError);
    expect(refused).toMatchObject({ name: 'ServiceStateError', method: 'restart', serviceName: 'Pump', state: 'running', message: NOT_RESTARTABLE('Pump', 'running', 'state') });
    expect((refused as ServiceStateError).getStatus()).toBe(409);
    expect(registry.get('Pump')).toMatchObject({ state: 'running', runs: 1 });

    const periodic = thrown(() => registry.restart('Reports.daily'));
    expect(periodic).toBeInstanceOf(ServiceKindError);
    expect((periodic as Error).message).toBe(WRONG_KIND('restart', 'Reports.daily', 'periodic', 'background'));
    expect(() => registry.restart('emails')).toThrow(WRONG_KIND('restart', 'emails', 'queue', 'background'));

    const unknown = thrown(() => registry.restart('Nope'));
    expect(unknown).toBeInstanceOf(UnknownServiceError);
    expect((unknown as Error).message).toBe(UNKNOWN_SERVICE('restart', 'Nope', registry.list().map((s) => s.name)));
  });

  it('refuses a service its restart policy is about to restart', async () => {
    @BackgroundService({ name: 'Backoff', onError: 'restart', restart: { maxRestarts: 3, initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 } })
    class Backoff {
      async execute() {
        throw new Error('down');
      }
    }
    running = await startApp([Backoff]);
    const { registry } = running;
    await waitFor(() => registry.get('Backoff')?.failures === 1, 20_000, 'the first failure');
    expect(registry.get('Backoff')!.state).toBe('starting');
    expect(() => registry.restart('Backoff')).toThrow(new ServiceStateError('restart', 'Backoff', 'starting', NOT_RESTARTABLE('Backoff', 'starting', 'backoff')));
    expect(registry.get('Backoff')).toMatchObject({ state: 'starting', runs: 1 });
  });

  it("refuses once the host is stopping (after a 'stopHost' failure), whatever the service's own policy", async () => {
    @BackgroundService({ name: 'Fatal', onError: 'stopHost' })
    class Fatal {
      async execute() {
        throw new Error('fatal');
      }
    }
    running = await startApp([Fatal]);
    const { registry } = running;
    const lifetime = running.app.get(HostLifetime);
    await waitFor(() => registry.get('Fatal')?.state === 'faulted' && lifetime.stopping.aborted, 20_000, 'Fatal to stop the host');
    expect(() => registry.restart('Fatal')).toThrow(NOT_RESTARTABLE('Fatal', 'faulted', 'host stopping'));
    expect(registry.get('Fatal')!.runs).toBe(1);

    // Fragile (onError 'ignore') faulted too; once stopping has begun, it stays down.
    await waitFor(() => registry.get('Fragile')?.state === 'faulted', 20_000, 'Fragile to fault');
    expect(() => registry.restart('Fragile')).toThrow(NOT_RESTARTABLE('Fragile', 'faulted', 'host stopping'));
    expect(fragile.calls).toBe(1);
  });
});

describe('the dashboard Restart action', () => {
  let running: Running | undefined;

  beforeEach(() => {
    fragile.calls = 0;
    fragile.failUntil = 1;
  });

  afterEach(async () => {
    await running?.app.close();
    running = undefined;
  });

  const post = async (url: string, name: string, headers: Record<string, string> = { 'X-Hosting-Dashboard': '1' }) => {
    const response = await fetch(`${url}/hosting/services/${encodeURIComponent(name)}/restart`, { method: 'POST', headers });
    return { status: response.status, body: (await response.json()) as { message?: string } };
  };

  it('restarts a faulted service (202) and refuses what HostingRegistry.restart refuses (409, 404)', async () => {
    running = await startApp();
    const { registry, url } = running;
    await waitFor(() => registry.get('Fragile')?.state === 'faulted', 20_000, 'Fragile to fault');

    expect(await post(url, 'Pump')).toEqual({ status: 409, body: expect.objectContaining({ message: NOT_RESTARTABLE('Pump', 'running', 'state') }) });
    expect(await post(url, 'Reports.daily')).toEqual({
      status: 409,
      body: expect.objectContaining({ message: WRONG_KIND('restart', 'Reports.daily', 'periodic', 'background') }),
    });
    expect((await post(url, 'Nope')).status).toBe(404);

    expect(await post(url, 'Fragile')).toEqual({ status: 202, body: { name: 'Fragile', action: 'restart' } });
    await waitFor(() => registry.get('Fragile')?.state === 'running', 20_000, 'Fragile to run again');
    expect(fragile.calls).toBe(2);
    // Running now: a second restart is refused.
    expect(await post(url, 'Fragile')).toEqual({ status: 409, body: expect.objectContaining({ message: NOT_RESTARTABLE('Fragile', 'running', 'state') }) });
  });

  it('is refused without the dashboard header and from another origin, and the service stays faulted', async () => {
    running = await startApp();
    const { registry, url } = running;
    await waitFor(() => registry.get('Fragile')?.state === 'faulted', 20_000, 'Fragile to fault');

    expect(await post(url, 'Fragile', {})).toEqual({ status: 403, body: expect.objectContaining({ message: DASHBOARD_ACTION_HEADER_MISSING('X-Hosting-Dashboard') }) });
    const foreign = 'http://127.0.0.1:1';
    expect(await post(url, 'Fragile', { 'X-Hosting-Dashboard': '1', Origin: foreign })).toEqual({
      status: 403,
      body: expect.objectContaining({ message: DASHBOARD_FOREIGN_ORIGIN(foreign, url) }),
    });
    expect((await post(url, 'Fragile', { 'X-Hosting-Dashboard': '1', 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect(registry.get('Fragile')).toMatchObject({ state: 'faulted', runs: 1 });
    expect(fragile.calls).toBe(1);
  });

  it('is not served by a read-only dashboard', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }), HostingDashboardModule.register({})],
      providers: [Fragile],
    })
      .setLogger(new CaptureLogger())
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    running = { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`, logger: new CaptureLogger(), registry: app.get(HostingRegistry) };
    await waitFor(() => running!.registry.get('Fragile')?.state === 'faulted', 20_000, 'Fragile to fault');
    expect((await post(running.url, 'Fragile')).status).toBe(404);
    expect(running.registry.get('Fragile')!.state).toBe('faulted');
  });
});
