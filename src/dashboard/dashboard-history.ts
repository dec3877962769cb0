import { Inject, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { errorMessage } from '../errors/thrown-value.js';
import { WorkInterceptor, type WorkContext, type WorkNext } from '../interception/work-interceptor.js';
import { afterRun } from '../interception/work-interceptors.js';
import { OneCopy } from '../one-copy.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { TimeProvider, watchdog, type TimerHandle } from '../time/time-provider.js';
import type { ResolvedHistoryOptions } from './dashboard-options.interface.js';

/** The token of the resolved `history` options of one `HostingDashboardModule.register`. */
export const DASHBOARD_HISTORY_OPTIONS = Symbol.for('nest-hosting:dashboard-history-options');

/** How a run ended, as `status.json` shows it. */
export type DashboardRunOutcome = 'success' | 'failure' | 'cancelled';

/** One run of a unit (a tick, an `execute` run, a queue item's delivery) in `DashboardSnapshot.history`. */
export interface DashboardRun {
  /** When it started (ISO 8601, the host's `TimeProvider` wall clock). */
  startedAt: string;
  /** How long it took, in milliseconds (monotonic clock). */
  durationMs: number;
  /** Periodic, scheduled ticks: how long after its slot (`TickContext.scheduledAt`) it started. Unset for runs started with Run now / `trigger`. */
  latenessMs?: number;
  /** `'cancelled'`: it ended because the host was stopping (its signal aborted), not a failure. */
  outcome: DashboardRunOutcome;
  /** On failure: the error's message (cut at 1,000 characters). */
  error?: string;
}

/** One sample of a queue in `DashboardSnapshot.history`, taken every `history.sampleEveryMs`. */
export interface DashboardQueueSample {
  /** When it was taken (ISO 8601). */
  at: string;
  /** Items handled successfully since the host started (cumulative: throughput is the difference between two samples). */
  processed: number;
  /** Items that failed their last attempt since the host started (cumulative). */
  failed: number;
  /** Items waiting. */
  depth: number;
  /** Items being handled. */
  inFlight: number;
}

/** The history of one unit: its last runs and, for a queue, its samples; both oldest first. */
export interface DashboardUnitHistory {
  runs: DashboardRun[];
  /** Queues only. */
  samples?: DashboardQueueSample[];
}

/** Longest error message kept per run. */
const MAX_ERROR_LENGTH = 1_000;
const SUCCESS = 0;
const FAILURE = 1;
const CANCELLED = 2;
const OUTCOMES: readonly DashboardRunOutcome[] = ['success', 'failure', 'cancelled'];
/** Slots a ring starts with; it doubles up to its capacity, then wraps (a unit that ran twice does not hold 50 slots). */
const FIRST_SLOTS = 4;

/** The last `capacity` runs of one unit: parallel typed arrays (epoch ms numbers), written in place. */
class RunRing {
  started: Float64Array;
  durations: Float64Array;
  /** NaN: none. */
  lateness: Float64Array;
  outcomes: Uint8Array;
  errors: Array<string | undefined>;
  /** Runs written so far (the slot of the next is `count % capacity` once full). */
  count = 0;

  constructor(readonly capacity: number) {
    const slots = Math.min(capacity, FIRST_SLOTS);
    this.started = new Float64Array(slots);
    this.durations = new Float64Array(slots);
    this.lateness = new Float64Array(slots);
    this.outcomes = new Uint8Array(slots);
    this.errors = new Array<string | undefined>(slots).fill(undefined);
  }

  push(startedAt: number, durationMs: number, latenessMs: number, outcome: number, error: string | undefined): void {
    let slot = this.count;
    if (slot >= this.started.length) {
      if (this.started.length < this.capacity) this.grow();
      else slot %= this.capacity;
    }
    this.started[slot] = startedAt;
    this.durations[slot] = durationMs;
    this.lateness[slot] = latenessMs;
    this.outcomes[slot] = outcome;
    this.errors[slot] = error;
    this.count++;
  }

  private grow(): void {
    const slots = Math.min(this.capacity, this.started.length * 2);
    const widen = (from: Float64Array) => {
      const to = new Float64Array(slots);
      to.set(from);
      return to;
    };
    this.started = widen(this.started);
    this.durations = widen(this.durations);
    this.lateness = widen(this.lateness);
    const outcomes = new Uint8Array(slots);
    outcomes.set(this.outcomes);
    this.outcomes = outcomes;
    while (this.errors.length < slots) this.errors.push(undefined);
  }

  /** Oldest first. */
  runs(): DashboardRun[] {
    const kept = Math.min(this.count, this.capacity);
    const first = this.count - kept;
    const runs: DashboardRun[] = new Array<DashboardRun>(kept);
    for (let i = 0; i < kept; i++) {
      const slot = (first + i) % this.capacity;
      const run: DashboardRun = {
        startedAt: new Date(this.started[slot]!).toISOString(),
        durationMs: this.durations[slot]!,
        outcome: OUTCOMES[this.outcomes[slot]!]!,
      };
      const lateness = this.lateness[slot]!;
      if (!Number.isNaN(lateness)) run.latenessMs = lateness;
      const error = this.errors[slot];
      if (error !== undefined) run.error = error;
      runs[i] = run;
    }
    return runs;
  }

  bytes(): number {
    let bytes = this.started.byteLength * 3 + this.outcomes.byteLength + this.errors.length * 8;
    for (const error of this.errors) if (error !== undefined) bytes += error.length * 2;
    return bytes;
  }
}

/** The last `capacity` samples of one queue (preallocated: one per queue, known at start). */
class SampleRing {
  private readonly values: Float64Array;
  private count = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity * 5);
  }

  push(at: number, processed: number, failed: number, depth: number, inFlight: number): void {
    const base = (this.count % this.capacity) * 5;
    const values = this.values;
    values[base] = at;
    values[base + 1] = processed;
    values[base + 2] = failed;
    values[base + 3] = depth;
    values[base + 4] = inFlight;
    this.count++;
  }

  samples(): DashboardQueueSample[] {
    const kept = Math.min(this.count, this.capacity);
    const first = this.count - kept;
    const samples: DashboardQueueSample[] = new Array<DashboardQueueSample>(kept);
    for (let i = 0; i < kept; i++) {
      const base = ((first + i) % this.capacity) * 5;
      const v = this.values;
      samples[i] = { at: new Date(v[base]!).toISOString(), processed: v[base + 1]!, failed: v[base + 2]!, depth: v[base + 3]!, inFlight: v[base + 4]! };
    }
    return samples;
  }

  bytes(): number {
    return this.values.byteLength;
  }
}

/**
 * The dashboard's history (on unless `HostingDashboardModule.register({ history: false })`): an
 * interceptor around every unit of work that keeps each unit's last `runs` runs (start, duration,
 * lateness, outcome, error) in a ring of fixed size, and a sampler on the host's `TimeProvider`
 * that keeps each queue's last `samples` counts (processed, failed, depth, in flight). Memory is
 * bounded by the number of units: see `memoryBytes()`.
 */
@OneCopy('DashboardHistory')
@WorkInterceptor({ order: -800 })
export class DashboardHistory implements WorkInterceptor, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly rings = new Map<string, RunRing>();
  private readonly queues = new Map<string, SampleRing>();
  private timer?: TimerHandle;
  private stopped = false;
  /** Rings held when units no longer listed are next dropped (run-time units come and go). */
  private pruneAt = 64;

  /** @internal made by Nest in `HostingDashboardModule.register` */
  constructor(
    @Inject(DASHBOARD_HISTORY_OPTIONS) private readonly options: ResolvedHistoryOptions,
    @Inject(TimeProvider) private readonly time: TimeProvider,
    @Inject(HostingRegistry) private readonly registry: HostingRegistry,
  ) {}

  /** Records the unit's start, duration, lateness and outcome; returns what `next()` returned, as it was. */
  intercept(work: WorkContext, next: WorkNext): unknown {
    const ring = this.rings.get(work.name) ?? this.ringOf(work.name);
    const time = this.time;
    const startedAt = time.now();
    const started = time.monotonic();
    const tick = work.kind === 'periodic' ? work.tick : undefined;
    const lateness = tick && !tick.triggered ? startedAt - tick.scheduledAt.getTime() : NaN;
    return afterRun(next, (failed, error) => {
      const durationMs = time.monotonic() - started;
      if (!failed) ring.push(startedAt, durationMs, lateness, SUCCESS, undefined);
      else if (work.endedByStop(error)) ring.push(startedAt, durationMs, lateness, CANCELLED, undefined);
      else ring.push(startedAt, durationMs, lateness, FAILURE, errorMessage(error).slice(0, MAX_ERROR_LENGTH));
    });
  }

  /**
   * Bytes held by the history's buffers now (typed arrays, error message text and slot
   * references; not the `Map` entries or object headers), for sizing: at most about
   * `units × runs × 33 + queues × samples × 40` plus the kept error messages.
   */
  memoryBytes(): number {
    let bytes = 0;
    for (const ring of this.rings.values()) bytes += ring.bytes();
    for (const ring of this.queues.values()) bytes += ring.bytes();
    return bytes;
  }

  /** @internal The history of the units the registry lists now, by name (rings of units no longer listed are dropped). */
  snapshot(names: readonly string[]): Record<string, DashboardUnitHistory> {
    this.prune(names);
    const out = Object.create(null) as Record<string, DashboardUnitHistory>;
    for (const name of names) {
      const ring = this.rings.get(name);
      const samples = this.queues.get(name);
      if (!ring && !samples) continue;
      out[name] = samples ? { runs: ring?.runs() ?? [], samples: samples.samples() } : { runs: ring!.runs() };
    }
    return out;
  }

  /** Starts sampling the queues the registry lists (Nest calls it; queues are all known by then). */
  onApplicationBootstrap(): void {
    for (const status of this.registry.list()) if (status.kind === 'queue') this.queues.set(status.name, new SampleRing(this.options.samples));
    if (this.queues.size > 0) this.sample();
  }

  /** Stops sampling (Nest calls it). */
  onApplicationShutdown(): void {
    this.stopped = true;
    this.timer?.clear();
  }

  private ringOf(name: string): RunRing {
    if (this.rings.size >= this.pruneAt) {
      this.prune(this.registry.list().map((status) => status.name));
      this.pruneAt = Math.max(64, this.rings.size * 2);
    }
    const ring = new RunRing(this.options.runs);
    this.rings.set(name, ring);
    return ring;
  }

  /** Drops the rings of units the registry no longer lists (removed run-time units). */
  private prune(names: readonly string[]): void {
    const listed = new Set(names);
    for (const name of this.rings.keys()) if (!listed.has(name)) this.rings.delete(name);
  }

  /** Takes one sample of every queue and arms the next (a watchdog for `VirtualTime`: nothing waits for it). */
  private readonly sample = (): void => {
    if (this.stopped) return;
    const at = this.time.now();
    for (const [name, ring] of this.queues) {
      const status = this.registry.get(name);
      if (status) ring.push(at, status.processed ?? 0, status.failed ?? 0, status.depth ?? 0, status.inFlight ?? 0);
    }
    this.timer = this.time.setTimeout(watchdog(() => this.sample()), this.options.sampleEveryMs);
  };
}
