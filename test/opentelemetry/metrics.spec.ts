/**
 * Metrics of the hosted work through the OpenTelemetry metrics API, as Prometheus sees them: the
 * real SDK (`MeterProvider`) with its Prometheus exporter on 127.0.0.1, scraped over HTTP. Runs
 * by kind, unit and outcome, their duration, the lateness of ticks, and gauges read from
 * `HostingRegistry` (depth, in flight, missed ticks, retries, drops, late tasks, connections).
 */
import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  type JobContext,
  type TickContext,
  type WorkQueue,
} from '../../src/index.js';
import { HostingOpenTelemetryModule } from '../../src/opentelemetry/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { getFreePort } from '../support/free-port.js';
import { startHostingApp, startOnTime, untilAborted, waitFor } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(90_000);

const T0 = Date.UTC(2026, 0, 1);
const metricsModule = () => HostingOpenTelemetryModule.forRoot({ tracing: false });

let provider: MeterProvider;
let exporter: PrometheusExporter;
let port: number;

beforeAll(async () => {
  port = await getFreePort();
  exporter = new PrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
  provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  await exporter.startServer();
});

afterAll(async () => {
  metrics.disable();
  await provider.shutdown(); // shuts the exporter's server down too
});

/** One scrape of the exporter, over HTTP. */
async function scrape(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of the sample `name` whose labels include `labels` (undefined when there is none; throws when several match). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) given[key!] = value!;
    if (Object.entries(labels).every(([key, value]) => given[key] === value)) found.push(Number(match[3]));
  }
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0];
}

const unit = (kind: string, name: string) => ({ nest_hosting_kind: kind, nest_hosting_unit: name });
const runs = (text: string, kind: string, name: string, outcome: string) => sample(text, 'nest_hosting_runs_total', { ...unit(kind, name), nest_hosting_outcome: outcome });

describe('HostingOpenTelemetryModule metrics, scraped by Prometheus', () => {
  it('counts ticks by outcome (a timeout fails, the host stop cancels), with their duration and the lateness of scheduled ones, and shows missed ticks, late and paused tasks', async () => {
    const time = new VirtualTime({ now: T0 });
    let slowRuns = 0;
    @Injectable()
    class Tasks {
      @Periodic(1_000, { name: 'm-ok' })
      ok() {}
      @Periodic(1_000, { name: 'm-bad' })
      bad() {
        throw new Error('bad tick');
      }
      @Periodic(1_000, { name: 'm-timed', timeoutMs: 300 })
      async timed(ctx: TickContext) {
        await time.delay(3_600_000, ctx.signal); // rejects with the timeout's reason at 300 ms
      }
      @Periodic(1_000, { name: 'm-slow' })
      async slow() {
        if (++slowRuns === 1) await time.delay(2_500); // overruns the slots at 2 s and 3 s
      }
      @Periodic(1_000, { name: 'm-hang' })
      async hang(ctx: TickContext) {
        await time.delay(3_600_000, ctx.signal); // until the host stops it
      }
    }
    // (Missed-run checks off here: see the next test for late tasks.)
    const { moduleRef, registry } = await startOnTime(time, { hosting: { staleAfterPeriods: false }, imports: [metricsModule()], providers: [Tasks] });
    let closed = false;
    try {
      await time.advance(4_000);
      await registry.trigger('m-ok'); // a triggered run: counted, but it has no lateness
      registry.pause('m-ok');

      const text = await scrape();
      expect(runs(text, 'periodic', 'm-ok', 'success')).toBe(5);
      expect(runs(text, 'periodic', 'm-bad', 'failure')).toBe(4);
      expect(runs(text, 'periodic', 'm-bad', 'success')).toBeUndefined();
      expect(runs(text, 'periodic', 'm-timed', 'failure')).toBe(3); // 1 s, 2 s, 3 s; the one of 4 s still runs
      expect(runs(text, 'periodic', 'm-slow', 'success')).toBe(3); // 1 s (until 3.5 s), 3 s (coalesced, at 3.5 s), 4 s
      // Duration in seconds, on the host's clock: each timed-out tick ran 300 ms.
      expect(sample(text, 'nest_hosting_run_duration_count', { ...unit('periodic', 'm-timed'), nest_hosting_outcome: 'failure' })).toBe(3);
      expect(sample(text, 'nest_hosting_run_duration_sum', { ...unit('periodic', 'm-timed'), nest_hosting_outcome: 'failure' })).toBeCloseTo(0.9, 9);
      expect(sample(text, 'nest_hosting_run_duration_sum', { ...unit('periodic', 'm-slow'), nest_hosting_outcome: 'success' })).toBeCloseTo(2.5, 9);
      expect(sample(text, 'nest_hosting_run_duration_bucket', { ...unit('periodic', 'm-slow'), nest_hosting_outcome: 'success', le: '1' })).toBe(2);
      expect(sample(text, 'nest_hosting_run_duration_bucket', { ...unit('periodic', 'm-slow'), nest_hosting_outcome: 'success', le: '+Inf' })).toBe(3);
      // Lateness: the coalesced run of slot 3 s started at 3.5 s; the triggered run of m-ok is not counted.
      expect(sample(text, 'nest_hosting_tick_lateness_count', { nest_hosting_unit: 'm-slow' })).toBe(3);
      expect(sample(text, 'nest_hosting_tick_lateness_sum', { nest_hosting_unit: 'm-slow' })).toBeCloseTo(0.5, 9);
      expect(sample(text, 'nest_hosting_tick_lateness_count', { nest_hosting_unit: 'm-ok' })).toBe(4);
      expect(sample(text, 'nest_hosting_tick_lateness_sum', { nest_hosting_unit: 'm-ok' })).toBe(0);
      // Gauges, from the registry.
      expect(registry.get('m-slow')!.missedTicks).toBe(1);
      expect(sample(text, 'nest_hosting_tick_missed_total', unit('periodic', 'm-slow'))).toBe(1);
      expect(sample(text, 'nest_hosting_tick_missed_total', unit('periodic', 'm-ok'))).toBe(0);
      expect(sample(text, 'nest_hosting_task_late', unit('periodic', 'm-ok'))).toBe(0);
      expect(sample(text, 'nest_hosting_unit_paused', unit('periodic', 'm-ok'))).toBe(1);
      expect(sample(text, 'nest_hosting_unit_paused', unit('periodic', 'm-bad'))).toBe(0);
      expect(sample(text, 'nest_hosting_unit_state', { ...unit('periodic', 'm-hang'), nest_hosting_state: 'running' })).toBe(1);
      expect(sample(text, 'nest_hosting_unit_state', { ...unit('periodic', 'm-hang'), nest_hosting_state: 'faulted' })).toBe(0);

      await moduleRef.close();
      closed = true;
      const after = await scrape();
      // The runs the stop cut short (their error caused by the stop's abort) are cancelled, not failed.
      expect(runs(after, 'periodic', 'm-hang', 'cancelled')).toBe(1);
      expect(runs(after, 'periodic', 'm-hang', 'failure')).toBeUndefined();
      expect(runs(after, 'periodic', 'm-timed', 'cancelled')).toBe(1);
      expect(runs(after, 'periodic', 'm-timed', 'failure')).toBe(3);
    } finally {
      if (!closed) await moduleRef.close();
    }
  });

  it('shows a late task (past its missed-run budget) as 1', async () => {
    @Injectable()
    class Task {
      @Periodic(1_000, { name: 'm-late', staleAfterMs: 1_500 })
      fails() {
        throw new Error('every tick fails');
      }
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, { imports: [metricsModule()], providers: [Task] });
    try {
      await time.advance(1_000);
      expect(registry.get('m-late')!.late).toBe(false);
      expect(sample(await scrape(), 'nest_hosting_task_late', unit('periodic', 'm-late'))).toBe(0);
      await time.advance(3_000);
      expect(registry.get('m-late')!.late).toBe(true);
      expect(sample(await scrape(), 'nest_hosting_task_late', unit('periodic', 'm-late'))).toBe(1);
    } finally {
      await moduleRef.close();
    }
  });

  it('counts background service runs: failure, success, and cancelled when the host stops one that rejects with its abort', async () => {
    @BackgroundService({ name: 'm-svc-fails', onError: 'ignore' })
    class Fails {
      async execute() {
        await Promise.resolve();
        throw new Error('service broke');
      }
    }
    @BackgroundService({ name: 'm-svc-returns' })
    class Returns {
      execute() {}
    }
    @BackgroundService({ name: 'm-svc-cancelled' })
    class Cancelled {
      async execute(signal: AbortSignal) {
        await untilAborted(signal);
        throw signal.reason;
      }
    }
    const { app } = await startHostingApp({ imports: [metricsModule()], providers: [Fails, Returns, Cancelled] });
    const registry = app.get(HostingRegistry);
    try {
      await waitFor(() => registry.get('m-svc-fails')!.failures === 1 && registry.get('m-svc-returns')!.state === 'stopped', 10_000, 'the services to end');
      const text = await scrape();
      expect(runs(text, 'background', 'm-svc-fails', 'failure')).toBe(1);
      expect(runs(text, 'background', 'm-svc-returns', 'success')).toBe(1);
      expect(runs(text, 'background', 'm-svc-cancelled', 'cancelled')).toBeUndefined();
      expect(sample(text, 'nest_hosting_unit_state', { ...unit('background', 'm-svc-cancelled'), nest_hosting_state: 'running' })).toBe(1);
    } finally {
      await app.close();
    }
    const after = await scrape();
    expect(runs(after, 'background', 'm-svc-cancelled', 'cancelled')).toBe(1);
    expect(runs(after, 'background', 'm-svc-cancelled', 'failure')).toBeUndefined();
    expect(sample(after, 'nest_hosting_run_duration_count', { ...unit('background', 'm-svc-cancelled'), nest_hosting_outcome: 'cancelled' })).toBe(1);
  });

  it('counts queue items by outcome and shows depth, in flight, processed, failed, retried and dropped (memory backend)', async () => {
    const attemptsOf = new Map<string, number>();
    @Injectable()
    class Workers {
      constructor(
        @InjectQueue('m-retry') readonly retry: WorkQueue<string>,
        @InjectQueue('m-drop') readonly drop: WorkQueue<number>,
      ) {}
      @QueueWorker('m-retry', { attempts: 2 })
      handle(item: string) {
        const attempt = (attemptsOf.get(item) ?? 0) + 1;
        attemptsOf.set(item, attempt);
        if (item === 'doomed' || attempt === 1) throw new Error(`${item} failed try ${attempt}`);
      }
      @QueueWorker('m-drop')
      async hold(_item: number, ctx: JobContext) {
        await untilAborted(ctx.signal); // until the shutdown deadline
        throw ctx.signal.reason;
      }
    }
    const dropped: Array<[number, string]> = [];
    const { app } = await startHostingApp({
      hosting: { shutdownTimeoutMs: 300 },
      imports: [
        metricsModule(),
        HostingModule.registerQueue({ name: 'm-retry' }),
        HostingModule.registerQueue<number>({ name: 'm-drop', capacity: 1, fullMode: 'dropOldest', onDropped: (item, reason) => dropped.push([item, reason]) }),
      ],
      providers: [Workers],
    });
    const registry = app.get(HostingRegistry);
    const workers = app.get(Workers);
    let closed = false;
    try {
      await workers.retry.enqueue('flaky');
      await workers.retry.enqueue('doomed');
      await waitFor(() => registry.get('m-retry')!.processed === 1 && registry.get('m-retry')!.failed === 1, 10_000, 'both items to settle');
      expect(registry.get('m-retry')).toMatchObject({ processed: 1, failed: 1, retried: 2, dropped: 0 });

      await workers.drop.enqueue(1);
      await waitFor(() => registry.get('m-drop')!.inFlight === 1, 10_000, 'item 1 in flight');
      await workers.drop.enqueue(2);
      await workers.drop.enqueue(3); // evicts 2 (capacity 1, dropOldest)
      expect(dropped).toEqual([[2, 'dropOldest']]);
      expect(registry.get('m-drop')).toMatchObject({ depth: 1, inFlight: 1, dropped: 1, retried: 0 });

      const text = await scrape();
      expect(runs(text, 'queue', 'm-retry', 'success')).toBe(1);
      expect(runs(text, 'queue', 'm-retry', 'failure')).toBe(3); // flaky's first try, doomed's two
      expect(sample(text, 'nest_hosting_run_duration_count', { ...unit('queue', 'm-retry'), nest_hosting_outcome: 'failure' })).toBe(3);
      expect(sample(text, 'nest_hosting_queue_processed_total', unit('queue', 'm-retry'))).toBe(1);
      expect(sample(text, 'nest_hosting_queue_failed_total', unit('queue', 'm-retry'))).toBe(1);
      expect(sample(text, 'nest_hosting_queue_retried_total', unit('queue', 'm-retry'))).toBe(2);
      expect(sample(text, 'nest_hosting_queue_dropped_total', unit('queue', 'm-retry'))).toBe(0);
      expect(sample(text, 'nest_hosting_queue_depth', unit('queue', 'm-drop'))).toBe(1);
      expect(sample(text, 'nest_hosting_queue_in_flight', unit('queue', 'm-drop'))).toBe(1);
      expect(sample(text, 'nest_hosting_queue_dropped_total', unit('queue', 'm-drop'))).toBe(1);
      expect(sample(text, 'nest_hosting_queue_depth', unit('queue', 'm-retry'))).toBe(0);

      await app.close();
      closed = true;
    } finally {
      if (!closed) await app.close();
    }
    // At the deadline, item 3 (queued) and item 1 (in flight) went to onDropped; item 1's handler then rejected with its abort.
    expect(dropped.map(([item, reason]) => `${item}:${reason}`).sort()).toEqual(['1:shutdown', '2:dropOldest', '3:shutdown']);
    expect(registry.get('m-drop')).toMatchObject({ dropped: 3 });
    const after = await scrape();
    expect(runs(after, 'queue', 'm-drop', 'cancelled')).toBe(1);
    expect(runs(after, 'queue', 'm-drop', 'failure')).toBeUndefined();
  });

  it('counts cancelled queue items and shows the dead letters kept (memory backend)', async () => {
    @Injectable()
    class Worker {
      constructor(@InjectQueue('m-dead') readonly queue: WorkQueue<string>) {}
      @QueueWorker('m-dead')
      async handle(item: string, ctx: JobContext) {
        if (item === 'hold') await untilAborted(ctx.signal);
        throw new Error(`${item} fails`);
      }
    }
    const { app } = await startHostingApp({ imports: [metricsModule(), HostingModule.registerQueue({ name: 'm-dead' })], providers: [Worker] });
    try {
      const registry = app.get(HostingRegistry);
      const { queue } = app.get(Worker);
      await queue.enqueue('a');
      await queue.enqueue('b');
      await waitFor(() => registry.get('m-dead')!.failed === 2, 10_000, 'two dead letters');
      const hold = await queue.enqueue('hold');
      const waiting = await queue.enqueue('waiting');
      await waitFor(() => registry.get('m-dead')!.inFlight === 1, 10_000, "'hold' to run");
      await expect(queue.cancel(waiting)).resolves.toBe('removed');
      await expect(queue.cancel(hold)).resolves.toBe('aborted');
      await waitFor(() => registry.get('m-dead')!.cancelled === 2, 10_000, 'both cancels to count');
      let text = await scrape();
      expect(sample(text, 'nest_hosting_queue_cancelled_total', unit('queue', 'm-dead'))).toBe(2);
      expect(sample(text, 'nest_hosting_queue_dead_letters', unit('queue', 'm-dead'))).toBe(2);
      await expect(registry.discard('m-dead')).resolves.toBe(2);
      text = await scrape();
      expect(sample(text, 'nest_hosting_queue_dead_letters', unit('queue', 'm-dead'))).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('shows the state of each Redis connection of a BullMQ queue (1 up, 0 down) and counts its retries', async () => {
    const redis: RedisServerHandle = await startRedisServer();
    const name = `m-bull-${process.pid}`;
    const tries = new Map<string, number>();
    @Injectable()
    class Bull {
      constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      @QueueWorker(name, { attempts: 2 })
      handle(item: string) {
        const attempt = (tries.get(item) ?? 0) + 1;
        tries.set(item, attempt);
        if (attempt === 1) throw new Error('first try fails');
      }
    }
    const connectionUp = (text: string, connection: string) =>
      sample(text, 'nest_hosting_connection_up', { ...unit('queue', name), nest_hosting_connection: connection });
    const stateOf = (connection: string) => app.get(HostingRegistry).get(name)?.connections?.find((c) => c.name === connection)?.state;
    const { app } = await startHostingApp({
      hosting: { redis: { host: redis.host, port: redis.port }, shutdownTimeoutMs: 5_000 },
      imports: [metricsModule(), HostingModule.registerQueue({ name, backend: 'bullmq' })],
      providers: [Bull],
    });
    try {
      const registry = app.get(HostingRegistry);
      await waitFor(() => stateOf('producer') === 'up' && stateOf('worker') === 'up', 15_000, 'both connections up');
      await app.get(Bull).queue.enqueue('again');
      await waitFor(() => registry.get(name)!.processed === 1, 15_000, 'the item to succeed on its second try');
      expect(registry.get(name)).toMatchObject({ retried: 1, dropped: 0, failed: 0 });
      let text = await scrape();
      expect(text).toContain('# TYPE nest_hosting_connection_up gauge');
      expect(connectionUp(text, 'producer')).toBe(1);
      expect(connectionUp(text, 'worker')).toBe(1);
      expect(sample(text, 'nest_hosting_queue_retried_total', unit('queue', name))).toBe(1);
      expect(runs(text, 'queue', name, 'failure')).toBe(1);
      expect(runs(text, 'queue', name, 'success')).toBe(1);

      await redis.stop();
      await waitFor(() => stateOf('producer') === 'down' && stateOf('worker') === 'down', 20_000, 'both connections down');
      text = await scrape();
      expect(connectionUp(text, 'producer')).toBe(0);
      expect(connectionUp(text, 'worker')).toBe(0);

      await redis.start();
      await waitFor(() => stateOf('producer') === 'up' && stateOf('worker') === 'up', 20_000, 'both connections up again');
      text = await scrape();
      expect(connectionUp(text, 'producer')).toBe(1);
      expect(connectionUp(text, 'worker')).toBe(1);
    } finally {
      await app.close();
      await redis.stop();
    }
  });

  it('names every instrument as Prometheus renders it, and stops reading the registry when the app shuts down', async () => {
    @Injectable()
    class Everything {
      constructor(@InjectQueue('m-names') readonly queue: WorkQueue<number>) {}
      @Periodic(1_000, { name: 'm-names-task' })
      tick() {}
      @QueueWorker('m-names')
      handle() {}
    }
    @BackgroundService({ name: 'm-names-svc' })
    class Service {
      execute() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef, registry } = await startOnTime(time, {
      imports: [metricsModule(), HostingModule.registerQueue({ name: 'm-names' })],
      providers: [Everything, Service],
    });
    await time.advance(1_000);
    await moduleRef.get(Everything).queue.enqueue(1);
    await registry.whenIdle();
    const text = await scrape();
    const types = {
      nest_hosting_runs_total: 'counter',
      nest_hosting_run_duration: 'histogram',
      nest_hosting_tick_lateness: 'histogram',
      nest_hosting_tick_missed_total: 'counter',
      nest_hosting_task_late: 'gauge',
      nest_hosting_unit_state: 'gauge',
      nest_hosting_unit_paused: 'gauge',
      nest_hosting_queue_depth: 'gauge',
      nest_hosting_queue_in_flight: 'gauge',
      nest_hosting_queue_processed_total: 'counter',
      nest_hosting_queue_failed_total: 'counter',
      nest_hosting_queue_retried_total: 'counter',
      nest_hosting_queue_dropped_total: 'counter',
      nest_hosting_queue_cancelled_total: 'counter',
      nest_hosting_queue_dead_letters: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(text).toContain(`# TYPE ${name} ${type}`);
    expect(text).toContain('# UNIT nest_hosting_run_duration s');
    expect(text).toContain('# UNIT nest_hosting_tick_lateness s');
    expect(runs(text, 'periodic', 'm-names-task', 'success')).toBe(1);
    expect(runs(text, 'queue', 'm-names', 'success')).toBe(1);
    expect(runs(text, 'background', 'm-names-svc', 'success')).toBe(1);
    expect(sample(text, 'nest_hosting_runs_total', { ...unit('queue', 'm-names'), nest_hosting_outcome: 'success', otel_scope_name: 'nest-hosting' })).toBe(1);
    // The default buckets (seconds).
    expect(sample(text, 'nest_hosting_run_duration_bucket', { ...unit('queue', 'm-names'), nest_hosting_outcome: 'success', le: '3600' })).toBe(1);

    await moduleRef.close();
    const list = jest.spyOn(registry, 'list');
    await scrape();
    expect(list).not.toHaveBeenCalled();
    list.mockRestore();
  });

  it('uses the meter name and bucket boundaries given', async () => {
    @Injectable()
    class Task {
      @Periodic(1_000, { name: 'm-custom' })
      tick() {}
    }
    const time = new VirtualTime({ now: T0 });
    const { moduleRef } = await startOnTime(time, {
      imports: [HostingOpenTelemetryModule.forRoot({ tracing: false, metrics: { meterName: 'm-custom-meter', durationBuckets: [0.25, 7], latenessBuckets: [2] } })],
      providers: [Task],
    });
    try {
      await time.advance(2_000);
      const text = await scrape();
      const labels = { ...unit('periodic', 'm-custom'), otel_scope_name: 'm-custom-meter' };
      expect(sample(text, 'nest_hosting_runs_total', { ...labels, nest_hosting_outcome: 'success' })).toBe(2);
      expect(sample(text, 'nest_hosting_run_duration_bucket', { ...labels, nest_hosting_outcome: 'success', le: '7' })).toBe(2);
      expect(sample(text, 'nest_hosting_run_duration_bucket', { ...labels, nest_hosting_outcome: 'success', le: '1' })).toBeUndefined();
      const lateness = { nest_hosting_unit: 'm-custom', otel_scope_name: 'm-custom-meter' };
      expect(sample(text, 'nest_hosting_tick_lateness_bucket', { ...lateness, le: '2' })).toBe(2);
      expect(sample(text, 'nest_hosting_tick_lateness_bucket', { ...lateness, le: '0.001' })).toBeUndefined();
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses bad metrics options with a TypeError naming the entry point, the option and the value', () => {
    const where = 'HostingOpenTelemetryModule.forRoot({ metrics })';
    const bad = (metricsOptions: unknown) => () => HostingOpenTelemetryModule.forRoot({ metrics: metricsOptions as never });
    expect(bad({ meterName: '' })).toThrow(new TypeError(`${where}: option "meterName" must be a non-empty string, got ""`));
    expect(bad({ meterName: 7 })).toThrow(TypeError);
    expect(bad({ durationBuckets: [1, 0.5] })).toThrow(
      new TypeError(`${where}: option "durationBuckets" must be a non-empty array of increasing finite numbers of seconds, got [1,0.5]`),
    );
    expect(bad({ durationBuckets: [] })).toThrow(`${where}: option "durationBuckets" must be a non-empty array`);
    expect(bad({ latenessBuckets: [0.1, Infinity] })).toThrow(`${where}: option "latenessBuckets" must be`);
    expect(bad({ latenessBuckets: '1,2' })).toThrow(`${where}: option "latenessBuckets" must be`);
    expect(bad({ meterNmae: 'x' })).toThrow(`${where}: unknown option "meterNmae"; did you mean "meterName"?`);
    expect(bad(42)).toThrow(`${where}: options must be an object, got 42`);
  });
});
