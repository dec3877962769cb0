/**
 * Figure 10 — what instrumentation costs per unit of work. CPU time per static tick (driven through
 * `HostingRegistry.trigger`, as figure 2) and per memory-queue item (enqueue and handling, end to
 * end) in four apps side by side: no interceptor, one no-op `WorkInterceptor`, and
 * `HostingOpenTelemetryModule.forRoot()` (tracing and metrics) on the real OpenTelemetry SDK with
 * exporters that discard what they get; a bare `await fn()` is the anchor of the tick. And the
 * memory the dashboard's run history holds at 1,000 tasks with full buffers.
 */
import 'reflect-metadata';
import { Injectable, Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ROOT_CONTEXT, SpanKind, context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator, ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  WorkInterceptor,
  type JobContext,
  type TickContext,
  type WorkContext,
  type WorkNext,
  type WorkQueue,
} from '../src/index.js';
import { HostingOpenTelemetryModule } from '../src/opentelemetry/index.js';
import { DashboardHistory, HostingDashboardModule } from '../src/dashboard/index.js';
import { fmt, median, sized, spread, table, type BenchResult } from './bench-result.js';

const N_TICKS = sized(100_000, 1_000);
const N_ITEMS = sized(200_000, 2_000);
const ROUNDS = sized(9, 2);

type Variant = 'off' | 'noop' | 'tracing' | 'metrics' | 'otel' | 'hand';
const VARIANTS: Variant[] = ['off', 'noop', 'tracing', 'metrics', 'otel', 'hand'];

@WorkInterceptor()
class NoopInterceptor implements WorkInterceptor {
  intercept(_work: WorkContext, next: WorkNext) {
    return next();
  }
}

/** A counter both the job and the worker bump: their whole body. */
@Injectable()
class Counter {
  n = 0;
}

/** Trace context carried in the item by hand (the hand-written side of the item row). */
interface HandItem {
  i: number;
  headers: Record<string, string>;
}

/**
 * The hand-written limit: the same spans and measurements written into the handlers with the
 * OpenTelemetry API (no interceptor): a root span per tick with its slot and lateness, a
 * producer span and a consumer span per item with the context carried in the item, the run
 * counter and the duration histogram (and the lateness one for ticks).
 */
@Injectable()
class HandJob {
  private readonly tracer = trace.getTracer('hand');
  private readonly meter = metrics.getMeter('hand');
  private readonly runs = this.meter.createCounter('hand.runs');
  private readonly duration = this.meter.createHistogram('hand.run.duration');
  private readonly lateness = this.meter.createHistogram('hand.tick.lateness');
  private readonly tickAttributes = { 'nest_hosting.kind': 'periodic', 'nest_hosting.unit': 'hand', 'nest_hosting.outcome': 'success' };
  private readonly tickBase = { 'nest_hosting.kind': 'periodic', 'nest_hosting.unit': 'hand' };
  private readonly itemAttributes = { 'nest_hosting.kind': 'queue', 'nest_hosting.unit': 'hand-items', 'nest_hosting.outcome': 'success' };
  constructor(
    readonly counter: Counter,
    @InjectQueue('hand-items') readonly items: WorkQueue<HandItem>,
  ) {}

  @Periodic(3_600_000, { name: 'hand' })
  async run(ctx: TickContext) {
    const started = performance.now();
    const scheduledAt = ctx.scheduledAt.getTime();
    this.lateness.record((Date.now() - scheduledAt) / 1000, this.tickBase);
    const span = this.tracer.startSpan('tick hand', { root: true, attributes: { 'nest_hosting.tick': ctx.tick, 'nest_hosting.scheduled_at': scheduledAt } }, ROOT_CONTEXT);
    try {
      await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
        this.counter.n++;
      });
    } finally {
      span.end();
      this.runs.add(1, this.tickAttributes);
      this.duration.record((performance.now() - started) / 1000, this.tickAttributes);
    }
  }

  async enqueue(i: number): Promise<string> {
    const span = this.tracer.startSpan('send hand-items', { kind: SpanKind.PRODUCER, attributes: { 'messaging.destination.name': 'hand-items' } });
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), headers);
    try {
      const id = await this.items.enqueue({ i, headers });
      span.setAttribute('messaging.message.id', id);
      return id;
    } finally {
      span.end();
    }
  }

  @QueueWorker('hand-items')
  handle(item: HandItem, ctx: JobContext) {
    const started = performance.now();
    const parent = propagation.extract(ROOT_CONTEXT, item.headers);
    const span = this.tracer.startSpan('process hand-items', { kind: SpanKind.CONSUMER, attributes: { 'messaging.message.id': ctx.id } }, parent);
    try {
      context.with(trace.setSpan(parent, span), () => this.counter.n++);
    } finally {
      span.end();
      this.runs.add(1, this.itemAttributes);
      this.duration.record((performance.now() - started) / 1000, this.itemAttributes);
    }
  }
}

@Injectable()
class StaticJob {
  constructor(
    readonly counter: Counter,
    @InjectQueue('items') readonly items: WorkQueue<number>,
  ) {}
  @Periodic(3_600_000, { name: 'static' })
  async run() {
    this.counter.n++;
  }
  @QueueWorker('items')
  handle() {
    this.counter.n++;
  }
}

function appModule(variant: Variant): Type {
  const imports: Array<DynamicModule | Type> = [HostingModule.forRoot(), HostingModule.registerQueue({ name: 'items' })];
  if (variant === 'hand') imports.push(HostingModule.registerQueue({ name: 'hand-items' }));
  if (variant === 'otel') imports.push(HostingOpenTelemetryModule.forRoot());
  if (variant === 'tracing') imports.push(HostingOpenTelemetryModule.forRoot({ metrics: false }));
  if (variant === 'metrics') imports.push(HostingOpenTelemetryModule.forRoot({ tracing: false }));
  const providers = variant === 'noop' ? [Counter, StaticJob, NoopInterceptor] : variant === 'hand' ? [Counter, StaticJob, HandJob] : [Counter, StaticJob];
  @Module({ imports, providers })
  class BenchApp {}
  Object.defineProperty(BenchApp, 'name', { value: `BenchApp_${variant}` });
  return BenchApp;
}

/** The real SDK as an app sets it up, with exporters that drop what they are given. */
function installSdk(): () => Promise<void> {
  const spanExporter: SpanExporter = {
    export: (_spans: ReadableSpan[], done: (result: ExportResult) => void) => done({ code: ExportResultCode.SUCCESS }),
    shutdown: async () => undefined,
  };
  const metricExporter: PushMetricExporter = {
    export: (_metrics: ResourceMetrics, done: (result: ExportResult) => void) => done({ code: ExportResultCode.SUCCESS }),
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 })] });
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
  };
}

/** CPU microseconds per iteration of `body`, run `n` times. */
async function cpuPerOp(n: number, body: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await body();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

/** CPU microseconds per item: `n` enqueues, then until the worker handled them all. */
async function cpuPerItem(enqueue: (i: number) => Promise<string>, drain: () => Promise<void>, counter: Counter, n: number): Promise<number> {
  const target = counter.n + n;
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await enqueue(i);
  await drain();
  const used = process.cpuUsage(start);
  if (counter.n !== target) throw new Error(`handled ${counter.n - (target - n)} of ${n} items`);
  return (used.user + used.system) / n;
}

const HISTORY_TASKS = sized(1_000, 20);
const HISTORY_RUNS = 50;

/** Heap after a full GC, in bytes (the runner starts children with --expose-gc). */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Heap an app holds with `HISTORY_TASKS` run-time periodic tasks, each run `HISTORY_RUNS` times
 * (every history buffer full), with the dashboard's history on or off: the difference is what the
 * history holds.
 */
async function appHeap(history: boolean): Promise<{ heap: number; counted?: number }> {
  @Module({ imports: [HostingModule.forRoot(), HostingDashboardModule.register(history ? { history: { runs: HISTORY_RUNS } } : { history: false })] })
  class HistoryApp {}
  const app = await NestFactory.createApplicationContext(HistoryApp, { logger: false });
  await app.init();
  const registry = app.get(HostingRegistry);
  for (let t = 0; t < HISTORY_TASKS; t++) registry.addPeriodic(`task-${t}`, 3_600_000, () => undefined);
  for (let r = 0; r < HISTORY_RUNS + 5; r++) for (let t = 0; t < HISTORY_TASKS; t++) await registry.trigger(`task-${t}`);
  const heap = heapAfterGc();
  const counted = history ? app.get(DashboardHistory).memoryBytes() : undefined;
  await app.close();
  return { heap, counted };
}

export async function run(): Promise<BenchResult> {
  const uninstall = installSdk();
  const apps = new Map<Variant, { close(): Promise<void>; registry: HostingRegistry; job: StaticJob; hand?: HandJob }>();
  for (const variant of VARIANTS) {
    const app = await NestFactory.createApplicationContext(appModule(variant), { logger: false });
    await app.init();
    apps.set(variant, { close: () => app.close(), registry: app.get(HostingRegistry), job: app.get(StaticJob), hand: variant === 'hand' ? app.get(HandJob) : undefined });
  }
  const bareJob = apps.get('off')!.job;
  const bare = async () => bareJob.counter.n++;
  const ticks: Record<Variant | 'bare', number[]> = { bare: [], off: [], noop: [], tracing: [], metrics: [], otel: [], hand: [] };
  const items: Record<Variant, number[]> = { off: [], noop: [], tracing: [], metrics: [], otel: [], hand: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // Every round runs each side once, the order reversed every other round.
    const order: Array<Variant | 'bare'> = r % 2 === 0 ? ['bare', ...VARIANTS] : [...[...VARIANTS].reverse(), 'bare'];
    for (const side of order) {
      if (side === 'bare') ticks.bare.push(await cpuPerOp(N_TICKS, bare));
      else {
        const { registry } = apps.get(side)!;
        const task = side === 'hand' ? 'hand' : 'static';
        ticks[side].push(await cpuPerOp(N_TICKS, () => registry.trigger(task)));
      }
    }
    for (const side of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      const { job, hand } = apps.get(side)!;
      items[side].push(await cpuPerItem(hand ? (i) => hand.enqueue(i) : (i) => job.items.enqueue(i), hand ? () => hand.items.drain() : () => job.items.drain(), job.counter, N_ITEMS));
    }
  }
  for (const app of apps.values()) await app.close();
  await uninstall();
  const heaps = { on: [] as number[], off: [] as number[] };
  const counted: number[] = [];
  for (let r = 0; r < sized(3, 1); r++) {
    for (const on of r % 2 === 0 ? [false, true] : [true, false]) {
      const measured = await appHeap(on);
      heaps[on ? 'on' : 'off'].push(measured.heap);
      if (measured.counted !== undefined) counted.push(measured.counted);
    }
  }
  const historyBytes = heaps.on.map((v, i) => v - heaps.off[i]);

  const diff = (a: number[], b: number[]) => a.map((v, i) => v - b[i]);
  const offVsBare = diff(ticks.off, ticks.bare);
  const noopTick = diff(ticks.noop, ticks.off);
  const otelTick = diff(ticks.otel, ticks.off);
  const noopItem = diff(items.noop, items.off);
  const otelItem = diff(items.otel, items.off);
  const tracingTick = diff(ticks.tracing, ticks.off);
  const metricsTick = diff(ticks.metrics, ticks.off);
  const tracingItem = diff(items.tracing, items.off);
  const metricsItem = diff(items.metrics, items.off);
  const handTick = diff(ticks.hand, ticks.off);
  const handItem = diff(items.hand, items.off);
  const overHandTick = diff(ticks.otel, ticks.hand);
  const overHandItem = diff(items.otel, items.hand);
  const signed = (v: number) => `${v >= 0 ? '+' : ''}${fmt(v)}`;
  const list = (values: number[]) => values.map((v) => `${signed(v)} µs`).join(', ');
  const judge = (target: string, values: number[], limit: number) => {
    const m = median(values);
    return { target, measured: `${signed(m)} µs`, met: m <= limit, gap: m <= limit ? undefined : `per-round differences: ${list(values)}` };
  };
  const rows = [
    ['static tick', 'no interceptor', spread(ticks.off), `${spread(offVsBare)} over bare \`await fn()\` (${spread(ticks.bare)} µs)`],
    ['static tick', 'one no-op `WorkInterceptor`', spread(ticks.noop), `${spread(noopTick)} over no interceptor`],
    ['static tick', 'tracing only', spread(ticks.tracing), `${spread(tracingTick)} over no interceptor`],
    ['static tick', 'metrics only', spread(ticks.metrics), `${spread(metricsTick)} over no interceptor`],
    ['static tick', 'tracing + metrics (real SDK)', spread(ticks.otel), `${spread(otelTick)} over no interceptor; ${spread(overHandTick)} over hand-written`],
    ['static tick', 'hand-written: the same span and metrics with the OpenTelemetry API in the handler', spread(ticks.hand), `${spread(handTick)} over no interceptor`],
    ['memory-queue item, end to end', 'no interceptor', spread(items.off), ''],
    ['memory-queue item, end to end', 'one no-op `WorkInterceptor`', spread(items.noop), `${spread(noopItem)} over no interceptor`],
    ['memory-queue item, end to end', 'tracing only', spread(items.tracing), `${spread(tracingItem)} over no interceptor`],
    ['memory-queue item, end to end', 'metrics only', spread(items.metrics), `${spread(metricsItem)} over no interceptor`],
    ['memory-queue item, end to end', 'tracing + metrics (real SDK)', spread(items.otel), `${spread(otelItem)} over no interceptor; ${spread(overHandItem)} over hand-written`],
    ['memory-queue item, end to end', 'hand-written: producer and consumer spans, context carried in the item, the same metrics', spread(items.hand), `${spread(handItem)} over no interceptor`],
  ];
  const mib = (bytes: number) => bytes / 1024 / 1024;
  const historyTable = table(
    ['periodic tasks', 'runs kept per task', 'heap after GC, history on (MiB)', 'history off (MiB)', 'held by the history (MiB)', 'bytes per run kept', '`memoryBytes()` (MiB)'],
    [
      [
        HISTORY_TASKS.toLocaleString(),
        HISTORY_RUNS,
        spread(heaps.on.map(mib)),
        spread(heaps.off.map(mib)),
        spread(historyBytes.map(mib)),
        spread(historyBytes.map((b) => b / (HISTORY_TASKS * HISTORY_RUNS)), 0),
        spread(counted.map(mib)),
      ],
    ],
  );
  return {
    title: '10. Instrumentation cost per unit of work',
    method:
      `CPU time (process.cpuUsage) per unit, ${ROUNDS} rounds; five apps run side by side in one process — no interceptor, one no-op \`@WorkInterceptor()\`, and ` +
      '`HostingOpenTelemetryModule.forRoot()` with tracing only, metrics only, and both (judged on both) on the real OpenTelemetry SDK as an app sets it up (`BasicTracerProvider` with a `BatchSpanProcessor`, ' +
      '`AsyncLocalStorageContextManager`, the W3C propagator, a `MeterProvider` with a periodic reader), whose exporters discard what they get. ' +
      `Each round runs every side once, the order reversed every other round: ${N_TICKS.toLocaleString()} static ticks through \`HostingRegistry.trigger\` per side (beside a bare \`await fn()\`), ` +
      `then ${N_ITEMS.toLocaleString()} memory-queue items per app, each \`await enqueue(i)\` then \`drain()\`, a synchronous no-op worker (with tracing: a producer span at enqueue, its context carried in the item, a consumer span per item). ` +
      'A sixth app has no interceptor and writes the same instrumentation by hand in its handlers with the OpenTelemetry API (the limit: a root span per tick with its slot and lateness, a producer span and a consumer span per item with the context carried in the item, the run counter and the duration and lateness histograms). ' +
      'Cells: median of the per-round values (min–max); differences: median of the per-round differences against the app without interceptor (and against the hand-written one).' +
      ` History memory (reported, no target): an app with ${HISTORY_TASKS.toLocaleString()} run-time periodic tasks, each triggered ${HISTORY_RUNS + 5} times so that every buffer (\`history: { runs: ${HISTORY_RUNS} }\`) is full, ` +
      `heap after a full GC beside the same app with \`history: false\`, ${sized(3, 1)} rounds alternating.`,
    markdown: table(['unit', 'app', 'CPU µs per unit', 'added'], rows) + '\n\n' + historyTable,
    targets: [
      judge('no interceptor: static tick within 2 µs of a bare callback (median of per-round differences)', offVsBare, 2),
      judge('one no-op interceptor adds under 1 µs per tick (median of per-round differences)', noopTick, 1),
      judge('one no-op interceptor adds under 1 µs per queue item (median of per-round differences)', noopItem, 1),
      judge('tracing and metrics on add under 5 µs per tick (median of per-round differences)', otelTick, 5),
      judge('tracing and metrics on add under 5 µs per queue item, enqueue included (median of per-round differences)', otelItem, 5),
      judge('tracing and metrics per tick within 1 µs of the same instrumentation written by hand (median of per-round differences)', overHandTick, 1),
      judge('tracing and metrics per queue item within 1 µs of the same instrumentation written by hand (median of per-round differences)', overHandItem, 1),
    ],
  };
}
