import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit, type Provider } from '@nestjs/common';
import {
  metrics,
  type Attributes,
  type BatchObservableResult,
  type Histogram,
  type Meter,
  type Observable,
  type ObservableCounter,
  type ObservableGauge,
} from '@opentelemetry/api';
import { WorkInterceptor, type WorkContext, type WorkNext } from '../interception/work-interceptor.js';
import { afterRun } from '../interception/work-interceptors.js';
import type { ServiceKind, ServiceState } from '../interfaces/service-status.interface.js';
import { OneCopy, PACKAGE_VERSION } from '../one-copy.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import type { TickContext } from '../scheduling/tick-context.js';
import { TimeProvider } from '../time/time-provider.js';
import { OptionsValidator } from '../validation/options-validator.js';

/** Options of the metrics of `HostingOpenTelemetryModule.forRoot({ metrics })`. */
export interface HostingMetricsOptions {
  /** The name of the meter every instrument is made on (`otel_scope_name` in Prometheus). @default 'nest-hosting' */
  meterName?: string;
  /**
   * Bucket boundaries of `nest_hosting.run.duration`, in seconds, increasing. Given to the SDK as
   * advice (`advice.explicitBucketBoundaries`, `@opentelemetry/api` 1.7+): a View configured in the
   * SDK for this instrument wins over it.
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
   */
  durationBuckets?: number[];
  /**
   * Bucket boundaries of `nest_hosting.tick.lateness` (how long after its slot a tick started), in
   * seconds, increasing; given as advice as `durationBuckets` is.
   * @default [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300]
   */
  latenessBuckets?: number[];
}

const KNOWN_OPTIONS = ['meterName', 'durationBuckets', 'latenessBuckets'] as const;
const DEFAULT_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const DEFAULT_LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];
const BUCKETS_EXPECTED = 'a non-empty array of increasing finite numbers of seconds';

/** How one run ended, as `nest_hosting.outcome` says it. */
type Outcome = 'success' | 'failure' | 'cancelled';
const STATES: readonly ServiceState[] = ['starting', 'running', 'idle', 'stopping', 'stopped', 'faulted', 'disabled'];

const KIND = 'nest_hosting.kind';
const UNIT = 'nest_hosting.unit';
const OUTCOME = 'nest_hosting.outcome';
const STATE = 'nest_hosting.state';
const CONNECTION = 'nest_hosting.connection';

interface ResolvedMetricsOptions {
  meterName: string;
  durationBuckets: number[];
  latenessBuckets: number[];
}

const METRICS_OPTIONS = Symbol('nest-hosting:metrics-options');

const isBuckets = (value: unknown): boolean =>
  Array.isArray(value) &&
  value.length > 0 &&
  value.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && (i === 0 || bound > (value[i - 1] as number)));

/** The attribute objects of one unit, made once and reused for every measurement of it. */
class UnitAttributes {
  readonly base: Attributes;
  /** Of `nest_hosting.tick.lateness`: periodic tasks only, so the kind says nothing (every attribute is hashed on every record). */
  readonly unitOnly: Attributes;
  readonly success: Attributes;
  readonly failure: Attributes;
  readonly cancelled: Attributes;
  /** Runs ended, by outcome: plain numbers on the unit's path, read by `nest_hosting.runs` at collection. */
  readonly counts: Record<Outcome, number> = { success: 0, failure: 0, cancelled: 0 };
  private states?: Record<string, Attributes>;
  private connections?: Map<string, Attributes>;

  constructor(kind: ServiceKind, name: string) {
    this.base = Object.freeze({ [KIND]: kind, [UNIT]: name });
    this.unitOnly = Object.freeze({ [UNIT]: name });
    this.success = Object.freeze({ [KIND]: kind, [UNIT]: name, [OUTCOME]: 'success' });
    this.failure = Object.freeze({ [KIND]: kind, [UNIT]: name, [OUTCOME]: 'failure' });
    this.cancelled = Object.freeze({ [KIND]: kind, [UNIT]: name, [OUTCOME]: 'cancelled' });
  }

  /** Of `nest_hosting.unit.state`, for `state`. */
  state(state: ServiceState): Attributes {
    this.states ??= Object.fromEntries(STATES.map((s) => [s, Object.freeze({ ...this.base, [STATE]: s })]));
    return this.states[state] ?? (this.states[state] = Object.freeze({ ...this.base, [STATE]: state }));
  }

  /** Of `nest_hosting.connection.up`, for the connection named `name`. */
  connection(name: string): Attributes {
    const connections = (this.connections ??= new Map<string, Attributes>());
    let attributes = connections.get(name);
    if (attributes === undefined) connections.set(name, (attributes = Object.freeze({ ...this.base, [CONNECTION]: name })));
    return attributes;
  }
}

/**
 * The meter and instruments of one app (made when the app is created, on the global
 * `MeterProvider` set then), and the attributes of each unit.
 */
@Injectable()
export class HostingMeter {
  readonly meter: Meter;
  readonly runs: ObservableCounter;
  readonly duration: Histogram;
  readonly lateness: Histogram;
  private readonly units: Record<ServiceKind, Map<string, UnitAttributes>> = { periodic: new Map(), background: new Map(), queue: new Map() };

  constructor(@Inject(METRICS_OPTIONS) options: ResolvedMetricsOptions) {
    const meter = (this.meter = metrics.getMeter(options.meterName, PACKAGE_VERSION));
    // Observed at collection from each unit's own counts: a synchronous counter would hash its
    // attributes on every run (about a microsecond per tick or item with the SDK).
    this.runs = meter.createObservableCounter('nest_hosting.runs', {
      description: 'Runs of hosted work (ticks, background service runs, queue item deliveries) that ended, by outcome.',
      unit: '{run}',
    });
    this.duration = meter.createHistogram('nest_hosting.run.duration', {
      description: 'How long runs of hosted work took, by outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: options.durationBuckets },
    });
    this.lateness = meter.createHistogram('nest_hosting.tick.lateness', {
      description: 'How long after its scheduled slot a tick started (scheduled ticks; not triggered ones).',
      unit: 's',
      advice: { explicitBucketBoundaries: options.latenessBuckets },
    });
  }

  /** Every unit seen so far (units removed at run time keep their counts: counters only grow). */
  *allUnits(): IterableIterator<UnitAttributes> {
    for (const units of Object.values(this.units)) yield* units.values();
  }

  /** The attributes of the unit of `kind` named `name` (made on first use). */
  unit(kind: ServiceKind, name: string): UnitAttributes {
    const units = this.units[kind];
    let unit = units.get(name);
    if (unit === undefined) units.set(name, (unit = new UnitAttributes(kind, name)));
    return unit;
  }
}

/** The measurements of `HostingMetricsInterceptor`, which the module's own interceptor also takes when tracing is on too (not exported by itself). */
@Injectable()
export class HostingMetrics {
  private readonly duration: Histogram;
  private readonly lateness: Histogram;

  /** @internal made by `HostingOpenTelemetryModule.forRoot()` */
  constructor(
    @Inject(HostingMeter) private readonly meter: HostingMeter,
    @Inject(TimeProvider) private readonly time: TimeProvider,
  ) {
    this.duration = meter.duration;
    this.lateness = meter.lateness;
  }

  /** @internal A unit starts: its attributes (the lateness of a scheduled tick recorded now). Read `clock()` beside it for the duration. */
  begin(work: WorkContext): UnitAttributes {
    const unit = this.meter.unit(work.kind, work.name);
    if (work.kind === 'periodic') this.recordLateness(work.tick!, unit);
    return unit;
  }

  /** @internal The clock durations are measured on (the host's monotonic clock). */
  clock(): number {
    return this.time.monotonic();
  }

  /** @internal A unit that started at `startedAt` (`clock()`) returned (`failed` false) or threw `error`: counted and timed. */
  ended(unit: UnitAttributes, startedAt: number, work: WorkContext, failed: boolean, error: unknown): void {
    const outcome: Outcome = !failed ? 'success' : work.endedByStop(error) ? 'cancelled' : 'failure';
    unit.counts[outcome]++;
    this.duration.record((this.time.monotonic() - startedAt) / 1000, unit[outcome]);
  }

  private recordLateness(tick: TickContext, unit: UnitAttributes): void {
    if (tick.triggered) return;
    // The slot in epoch ms, read without making a Date.
    const lateMs = this.time.now() - tick['scheduledAtMs'];
    this.lateness.record(lateMs > 0 ? lateMs / 1000 : 0, unit.unitOnly);
  }
}

/**
 * Counts every run of hosted work by kind, name and outcome (`nest_hosting.runs`), and records its
 * duration (`nest_hosting.run.duration`) and, for a scheduled tick, its lateness
 * (`nest_hosting.tick.lateness`), through the OpenTelemetry metrics API. Registered by
 * `HostingOpenTelemetryModule.forRoot()`; the outcome is `success`, `failure`, or `cancelled`
 * (the run ended with an error caused by its signal's abort because the host stopped it, or its
 * run-time task was removed; a tick's `timeoutMs` is a failure).
 */
@OneCopy('HostingMetricsInterceptor')
@WorkInterceptor({ order: -900 })
export class HostingMetricsInterceptor extends HostingMetrics implements WorkInterceptor {
  /** Counts and times one run (the clock read once before `next()` and once when it settles). */
  intercept(work: WorkContext, next: WorkNext): unknown {
    const unit = this.begin(work);
    const startedAt = this.clock();
    return afterRun(next, (failed, error) => this.ended(unit, startedAt, work, failed, error));
  }
}

/**
 * The observable instruments, read from `HostingRegistry.list()` in one batch callback per
 * collection (registered at module init, removed at application shutdown).
 */
@Injectable()
export class HostingMetricsGauges implements OnModuleInit, OnApplicationShutdown {
  private readonly state: ObservableGauge;
  private readonly paused: ObservableGauge;
  private readonly connection: ObservableGauge;
  private readonly missed: ObservableCounter;
  private readonly late: ObservableGauge;
  private readonly depth: ObservableGauge;
  private readonly inFlight: ObservableGauge;
  private readonly processed: ObservableCounter;
  private readonly failed: ObservableCounter;
  private readonly retried: ObservableCounter;
  private readonly dropped: ObservableCounter;
  private readonly cancelled: ObservableCounter;
  private readonly deadLetters: ObservableGauge;
  private readonly observables: Observable[];
  private registered = false;

  constructor(
    @Inject(HostingMeter) private readonly meter: HostingMeter,
    @Inject(HostingRegistry) private readonly registry: HostingRegistry,
  ) {
    const m = meter.meter;
    const item = '{item}';
    this.state = m.createObservableGauge('nest_hosting.unit.state', { description: 'Where each unit is in its life: 1 for its current state, 0 for the others.', unit: '1' });
    this.paused = m.createObservableGauge('nest_hosting.unit.paused', { description: 'Periodic tasks and queues: 1 while paused through HostingRegistry.pause.', unit: '1' });
    this.connection = m.createObservableGauge('nest_hosting.connection.up', { description: 'Connections to Redis (BullMQ queues, exclusive tasks): 1 up, 0 connecting or down.', unit: '1' });
    this.missed = m.createObservableCounter('nest_hosting.tick.missed', { description: 'Periodic: ticks coalesced away because a run overran them.', unit: '{tick}' });
    this.late = m.createObservableGauge('nest_hosting.task.late', { description: 'Periodic: 1 while the task is late (past its missed-run budget without a successful run).', unit: '1' });
    this.depth = m.createObservableGauge('nest_hosting.queue.depth', { description: 'Queue: items waiting.', unit: item });
    this.inFlight = m.createObservableGauge('nest_hosting.queue.in_flight', { description: 'Queue: items being handled now.', unit: item });
    this.processed = m.createObservableCounter('nest_hosting.queue.processed', { description: 'Queue: items handled successfully.', unit: item });
    this.failed = m.createObservableCounter('nest_hosting.queue.failed', { description: 'Queue: items that failed their last attempt.', unit: item });
    this.retried = m.createObservableCounter('nest_hosting.queue.retried', { description: 'Queue: failed tries that are tried again.', unit: item });
    this.dropped = m.createObservableCounter('nest_hosting.queue.dropped', {
      description: 'Queue: items handed to onDropped (memory: evicted by fullMode or left at the shutdown deadline).',
      unit: item,
    });
    this.cancelled = m.createObservableCounter('nest_hosting.queue.cancelled', { description: 'Queue: items cancelled by WorkQueue.cancel (removed before they ran, or ended by the abort), in this process.', unit: item });
    this.deadLetters = m.createObservableGauge('nest_hosting.queue.dead_letters', {
      description: 'Queue: dead letters kept (items that failed their last attempt, until redriven or discarded).',
      unit: item,
    });
    this.observables = [
      this.state,
      this.paused,
      this.connection,
      this.missed,
      this.late,
      this.depth,
      this.inFlight,
      this.processed,
      this.failed,
      this.retried,
      this.dropped,
      this.cancelled,
      this.deadLetters,
    ];
  }

  onModuleInit(): void {
    if (this.registered) return;
    this.meter.meter.addBatchObservableCallback(this.observe, this.observables);
    // The run counts stay observed after shutdown: the runs a stop cancels are counted during it,
    // and an exporter's last collection (a push reader's at MeterProvider.shutdown) must see them.
    // The callback reads only the units' own numbers, never the registry.
    this.meter.meter.addBatchObservableCallback(this.observeRuns, [this.meter.runs]);
    this.registered = true;
  }

  onApplicationShutdown(): void {
    if (!this.registered) return;
    this.meter.meter.removeBatchObservableCallback(this.observe, this.observables);
    this.registered = false;
  }

  private readonly observeRuns = (result: BatchObservableResult): void => {
    const runs = this.meter.runs;
    for (const unit of this.meter.allUnits()) {
      const { counts } = unit;
      if (counts.success > 0) result.observe(runs, counts.success, unit.success);
      if (counts.failure > 0) result.observe(runs, counts.failure, unit.failure);
      if (counts.cancelled > 0) result.observe(runs, counts.cancelled, unit.cancelled);
    }
  };

  private readonly observe = (result: BatchObservableResult): void => {
    for (const status of this.registry.list()) {
      const unit = this.meter.unit(status.kind, status.name);
      const base = unit.base;
      for (const state of STATES) result.observe(this.state, state === status.state ? 1 : 0, unit.state(state));
      if (status.connections !== undefined) for (const c of status.connections) result.observe(this.connection, c.state === 'up' ? 1 : 0, unit.connection(c.name));
      if (status.kind === 'periodic') {
        result.observe(this.paused, status.paused === true ? 1 : 0, base);
        result.observe(this.missed, status.missedTicks, base);
        result.observe(this.late, status.late === true ? 1 : 0, base);
      } else if (status.kind === 'queue') {
        result.observe(this.paused, status.paused === true ? 1 : 0, base);
        result.observe(this.depth, status.depth ?? 0, base);
        result.observe(this.inFlight, status.inFlight ?? 0, base);
        result.observe(this.processed, status.processed ?? 0, base);
        result.observe(this.failed, status.failed ?? 0, base);
        result.observe(this.retried, status.retried ?? 0, base);
        result.observe(this.dropped, status.dropped ?? 0, base);
        result.observe(this.cancelled, status.cancelled ?? 0, base);
        result.observe(this.deadLetters, status.deadLetters ?? 0, base);
      }
    }
  };
}

/**
 * The providers of `HostingOpenTelemetryModule.forRoot({ metrics })`: the interceptor, the
 * observable instruments and their meter. Bad options throw a TypeError naming `where`, the option
 * and the value.
 */
export function metricsProviders(options: unknown, where: string, combined = false): Provider[] {
  const check = OptionsValidator.for(where, options, KNOWN_OPTIONS);
  const resolved: ResolvedMetricsOptions = {
    meterName: check.nonEmptyString('meterName') ?? 'nest-hosting',
    durationBuckets: [...(check.check<number[]>('durationBuckets', isBuckets, BUCKETS_EXPECTED) ?? DEFAULT_DURATION_BUCKETS)],
    latenessBuckets: [...(check.check<number[]>('latenessBuckets', isBuckets, BUCKETS_EXPECTED) ?? DEFAULT_LATENESS_BUCKETS)],
  };
  // Combined with tracing: the module's one interceptor takes the measurements (HostingMetrics is no interceptor itself).
  return [{ provide: METRICS_OPTIONS, useValue: resolved }, HostingMeter, combined ? HostingMetrics : HostingMetricsInterceptor, HostingMetricsGauges];
}
