/**
 * The dashboard's history (`HostingDashboardModule.register({ history })`), through a real app on
 * a `VirtualTime` clock and its `status.json` served on 127.0.0.1: each unit's last runs in a ring
 * of fixed size (outcome, duration, lateness, error), each queue's counts sampled on the host's
 * clock, `history: false` registering nothing, and bad options refused.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  TimeProvider,
  WorkQueue,
  type JobContext,
  type TickContext,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { DashboardHistory, HostingDashboardModule, type DashboardSnapshot, type HostingDashboardOptions } from '../../src/dashboard/index.js';
import { INVALID_DASHBOARD_OPTION } from '../../src/dashboard/dashboard.messages.js';
import { UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { WorkInterceptors } from '../../src/interception/work-interceptors.js';
import { describeDuration } from '../../src/validation/options-validator.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted } from '../support/hosting-app.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const XSS_ERROR = `<script>window.__xss=1</script> & disk "full"`;

/** What each tick of `beat` does, by tick number (1, 2, …): how long it takes, and whether it throws. */
const plan: Record<number, { takesMs: number; fails?: string }> = {};
const seen: Array<{ tick: number; startedAt: number; scheduledAt: number; triggered: boolean }> = [];
let clock: VirtualTime;

@Injectable()
class Beat {
  @Periodic({ every: 1_000, name: 'beat' })
  async tick(ctx: TickContext) {
    const n = seen.length + 1;
    seen.push({ tick: n, startedAt: clock.now(), scheduledAt: ctx.scheduledAt.getTime(), triggered: ctx.triggered });
    const step = plan[n] ?? { takesMs: 10 };
    await clock.delay(step.takesMs);
    if (step.fails) throw new Error(step.fails);
  }
}

async function start(dashboard: HostingDashboardOptions, providers: Array<new (...args: never[]) => unknown>, queue = false) {
  clock = new VirtualTime({ now: T0 });
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ shutdownTimeoutMs: 5_000 }),
      ...(queue ? [HostingModule.registerQueue({ name: 'jobs' })] : []),
      HostingDashboardModule.register({ refreshMs: 2 ** 31 - 1, ...dashboard }),
    ],
    providers,
  })
    .overrideProvider(TimeProvider)
    .useValue(clock)
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/hosting`;
  const status = async () => (await (await fetch(`${url}/status.json`)).json()) as Omit<DashboardSnapshot, 'generatedAt'> & Record<string, unknown>;
  return { app, url, status };
}

let running: INestApplication | undefined;

beforeEach(() => {
  seen.length = 0;
  for (const key of Object.keys(plan)) delete plan[Number(key)];
});

afterEach(async () => {
  await running?.close();
  running = undefined;
});

const iso = (ms: number) => new Date(ms).toISOString();

describe('the dashboard history: runs', () => {
  it('keeps the last `runs` runs of a task (oldest first): start, duration, lateness after an overrun, outcome and error', async () => {
    // Tick 1 overruns its period: tick 2 starts late; tick 3 fails; 4 and 5 succeed.
    plan[1] = { takesMs: 1_500 };
    plan[2] = { takesMs: 40 };
    plan[3] = { takesMs: 25, fails: XSS_ERROR };
    plan[4] = { takesMs: 10 };
    const { app, status } = await start({ history: { runs: 3 } }, [Beat]);
    running = app;

    await clock.advance(3_100); // ticks 1 (1000–2500), 2 (2500, slot 2000), 3 (3000–3025)
    const early = (await status()).history!.beat!.runs;
    expect(seen.map((s) => s.tick)).toEqual([1, 2, 3]);
    expect(early).toEqual(
      seen.map((s) => ({
        startedAt: iso(s.startedAt),
        durationMs: plan[s.tick]!.takesMs,
        latenessMs: s.startedAt - s.scheduledAt,
        outcome: s.tick === 3 ? 'failure' : 'success',
        ...(s.tick === 3 ? { error: XSS_ERROR } : {}),
      })),
    );
    expect(early.map((r) => r.latenessMs)).toEqual([0, 500, 0]);

    await clock.advance(3_000); // ticks 4, 5, 6 (ending at 6010): more runs than the ring holds
    const runs = (await status()).history!.beat!.runs;
    expect(seen).toHaveLength(6);
    expect(runs).toHaveLength(3);
    expect(runs.map((r) => r.startedAt)).toEqual(seen.slice(3).map((s) => iso(s.startedAt)));
    expect(runs.every((r) => r.outcome === 'success' && r.error === undefined)).toBe(true);
  });

  it('records a run started with Run now without lateness (it has no slot)', async () => {
    const { app, status } = await start({}, [Beat]);
    running = app;
    await clock.advance(1_010); // tick 1 ran (1000–1010)
    const run = app.get(HostingRegistry).trigger('beat');
    await clock.advance(10);
    await run;
    const runs = (await status()).history!.beat!.runs;
    expect(seen.map((s) => s.triggered)).toEqual([false, true]);
    expect(runs).toHaveLength(2);
    expect(runs[0]!.latenessMs).toBe(0);
    expect('latenessMs' in runs[1]!).toBe(false);
  });

  it("records a background service's failure, and a run ended by the host's stop as cancelled, not failed", async () => {
    const gate = { open: () => {} };
    const held = new Promise<void>((resolve) => (gate.open = resolve));
    let stopSeen: () => void = () => {};
    const stopping = new Promise<void>((resolve) => (stopSeen = resolve));
    let calls = 0;

    @BackgroundService({ name: 'fragile', onError: 'ignore' })
    class Fragile {
      async execute(signal: AbortSignal) {
        if (++calls === 1) throw new Error('first start failed');
        await untilAborted(signal);
        throw signal.reason; // what an abortable call (fetch, a driver) rejects with
      }
    }
    @BackgroundService({ name: 'holder' })
    class Holder {
      async execute(signal: AbortSignal) {
        await untilAborted(signal);
        stopSeen();
        await held; // keeps the host stopping while the test reads status.json
      }
    }
    const { app, status } = await start({}, [Fragile, Holder]);
    running = app;
    await clock.advance(0);
    app.get(HostingRegistry).restart('fragile');
    await clock.advance(0);
    expect((await status()).history!.fragile!.runs.map((r) => [r.outcome, r.error])).toEqual([['failure', 'first start failed']]);

    const closed = app.close();
    running = undefined;
    await stopping;
    try {
      const history = (await status()).history!;
      expect(history.fragile!.runs.map((r) => r.outcome)).toEqual(['failure', 'cancelled']);
      expect(history.fragile!.runs[1]!.error).toBeUndefined();
    } finally {
      gate.open();
      await closed;
    }
  });

  it('keeps memory bounded: memoryBytes() stops growing once every ring is full', async () => {
    const { app } = await start({ history: { runs: 3 } }, [Beat]);
    running = app;
    const history = app.get(DashboardHistory);
    expect(history.memoryBytes()).toBe(0);
    await clock.advance(3_000);
    const full = history.memoryBytes();
    expect(full).toBeGreaterThan(0);
    await clock.advance(10_000);
    expect(seen).toHaveLength(13);
    expect(history.memoryBytes()).toBe(full);
  });
});

describe('the dashboard history: queues', () => {
  it('samples each queue every sampleEveryMs on the host clock (processed and failed since start, depth, in flight), keeping the last `samples`, and records each delivery', async () => {
    @Injectable()
    class Jobs {
      constructor(@InjectQueue('jobs') readonly queue: WorkQueue<{ n: number }>) {}

      @QueueWorker('jobs')
      async work(job: { n: number }, _ctx: JobContext) {
        await clock.delay(1_500);
        if (job.n === 2) throw new Error(`item ${job.n} failed`);
      }
    }
    const { app, status } = await start({ history: { samples: 4, sampleEveryMs: 1_000 } }, [Jobs], true);
    running = app;
    for (let n = 1; n <= 4; n++) await app.get(Jobs).queue.enqueue({ n });
    // Items take 1.5 s each, one at a time: done at 1.5 s, failed at 3 s, done at 4.5 s and 6 s.
    await clock.advance(6_000);
    const jobs = (await status()).history!.jobs!;
    expect(jobs.samples).toEqual([
      { at: iso(T0 + 3_000), processed: 1, failed: 1, depth: 1, inFlight: 1 },
      { at: iso(T0 + 4_000), processed: 1, failed: 1, depth: 1, inFlight: 1 },
      { at: iso(T0 + 5_000), processed: 2, failed: 1, depth: 0, inFlight: 1 },
      { at: iso(T0 + 6_000), processed: 3, failed: 1, depth: 0, inFlight: 0 },
    ]);
    expect(jobs.runs.map((r) => [r.startedAt, r.durationMs, r.outcome, r.error])).toEqual([
      [iso(T0), 1_500, 'success', undefined],
      [iso(T0 + 1_500), 1_500, 'failure', 'item 2 failed'],
      [iso(T0 + 3_000), 1_500, 'success', undefined],
      [iso(T0 + 4_500), 1_500, 'success', undefined],
    ]);
    expect(jobs.runs.every((r) => r.latenessMs === undefined)).toBe(true);
  });
});

describe('history options', () => {
  it('by default, registers the history as an interceptor of the host (order −800); with history: false, registers nothing and status.json has no history', async () => {
    const on = await start({}, [Beat]);
    running = on.app;
    expect(on.app.get(WorkInterceptors).list().map((entry) => entry.source)).toEqual(['DashboardHistory']);
    expect(on.app.get(DashboardHistory)).toBeInstanceOf(DashboardHistory);
    await clock.advance(1_000);
    expect(Object.keys((await on.status()).history!)).toEqual(['beat']);
    await on.app.close();

    const off = await start({ history: false }, [Beat]);
    running = off.app;
    expect(off.app.get(WorkInterceptors).list()).toEqual([]);
    expect(() => off.app.get(DashboardHistory)).toThrow();
    await clock.advance(1_000);
    expect(seen).toHaveLength(2);
    const snapshot = await off.status();
    expect('history' in snapshot).toBe(false);
    expect(snapshot.services.map((s) => s.name)).toEqual(['beat']);
  });

  it.each<[unknown, string, string, unknown]>([
    [true, 'history', 'false or an object { runs?, samples?, sampleEveryMs? }', true],
    ['50', 'history', 'false or an object { runs?, samples?, sampleEveryMs? }', '50'],
    [{ runs: 0 }, 'history.runs', 'an integer from 1 to 1000', 0],
    [{ runs: 1_001 }, 'history.runs', 'an integer from 1 to 1000', 1_001],
    [{ runs: 2.5 }, 'history.runs', 'an integer from 1 to 1000', 2.5],
    [{ samples: 0 }, 'history.samples', 'an integer from 1 to 10000', 0],
    [{ sampleEveryMs: 50 }, 'history.sampleEveryMs', describeDuration({ min: 100, max: 2 ** 31 - 1 }), 50],
    [{ sampleEveryMs: Number.NaN }, 'history.sampleEveryMs', describeDuration({ min: 100, max: 2 ** 31 - 1 }), Number.NaN],
  ])('refuses history: %p, naming HostingDashboardModule.register, the option and the value', (history, option, expected, value) => {
    expect(() => HostingDashboardModule.register({ history } as HostingDashboardOptions)).toThrow(new TypeError(INVALID_DASHBOARD_OPTION(option, expected, value)));
  });

  it('refuses an unknown history key, naming the closest known one', () => {
    expect(() => HostingDashboardModule.register({ history: { run: 5 } } as HostingDashboardOptions)).toThrow(
      new TypeError(UNKNOWN_OPTION('HostingDashboardModule.register', 'history.run', 'history.runs', ['history.runs', 'history.samples', 'history.sampleEveryMs'])),
    );
  });
});
