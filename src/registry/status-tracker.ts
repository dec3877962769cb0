import { errorSummary } from '../errors/thrown-value.js';
import type { ServiceKind, ServiceState, ServiceStatus } from '../interfaces/service-status.interface.js';

/** A clock in epoch milliseconds. */
export type Clock = () => number;

let coarseNow = 0;
let coarseCalls = 0;
let coarseStale = true;
/**
 * Date.now(), re-read at most every 256 calls within one turn of the event loop: queue items
 * can pass at millions per second, and reading the clock twice per item cost 15% of throughput.
 */
export const coarseClock: Clock = () => {
  if (coarseStale || ++coarseCalls >= 256) {
    coarseNow = Date.now();
    coarseCalls = 0;
    if (coarseStale) {
      coarseStale = false;
      setImmediate(() => (coarseStale = true)).unref();
    }
  }
  return coarseNow;
};

/**
 * Queue items carry their start time as milliseconds since this base: a small integer for the
 * first 12 days of a process (stored in an object without a heap number per item), and still
 * correct, if a little slower, after that.
 */
const CLOCK_BASE = Date.now();

/** Counts runs and failures of one hosted unit and produces its `ServiceStatus`. */
export class StatusTracker {
  state: ServiceState = 'starting';
  runs = 0;
  failures = 0;
  consecutiveFailures = 0;
  missedTicks = 0;
  paused = false;
  // Epoch milliseconds, not Dates: this sits on the per-item hot path of queues.
  private startedAt = 0;
  private untimedItems = 0;
  private previousStartedAt = 0;
  private finishedAt = 0;
  /** When the last successful run finished (epoch ms; 0: none yet). Kept by `runSucceeded` only (ticks, services). */
  succeededAt = 0;
  /** NaN until a run finished (a number field, never undefined: it is written at every run). */
  private durationMs = Number.NaN;
  private lastError?: ServiceStatus['lastError'];

  /** Whether `now` is `Date.now` itself: then it is called as `Date.now()`, which V8 compiles to a direct clock read (through the field, a generic call). */
  private readonly systemClock: boolean;

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
    private readonly now: Clock = Date.now,
  ) {
    this.systemClock = now === Date.now;
  }

  /** The tracker's clock, read. */
  private read(): number {
    return this.systemClock ? Date.now() : this.now();
  }

  /**
   * Returns the start time, for units whose runs overlap (queue workers above concurrency 1). `at`:
   * the start, when the caller has just read the clock (a tick fired by its timer).
   */
  runStarted(at: number = this.read()): number {
    this.runs++;
    this.previousStartedAt = this.startedAt;
    return (this.startedAt = at);
  }

  /** The run did not happen here after all (an exclusive tick another instance ran): not counted. */
  runSkipped(): void {
    this.runs--;
    this.startedAt = this.previousStartedAt;
  }

  /**
   * A queue item started (items overlap above concurrency 1): counted, and its start time on the
   * coarse clock, relative to `CLOCK_BASE`, returned for `itemSucceeded` or `itemFailed`. Within a
   * burst that stays in one turn of the event loop, where the coarse clock barely moves, only one
   * item in 64 is timed (the others return -1); the first item of every turn is timed.
   */
  itemStarted(): number {
    this.runs++;
    if (!coarseStale && (++this.untimedItems & 63) !== 0) return -1;
    return coarseClock() - CLOCK_BASE;
  }

  /** A queue item finished: when it was timed, its start, end and duration become the last run's. */
  itemSucceeded(started: number): void {
    this.consecutiveFailures = 0;
    if (started < 0) return;
    this.startedAt = started + CLOCK_BASE;
    this.finish(this.startedAt);
  }

  /** A queue item ended neither succeeded nor failed (cancelled while it ran): finished, with its start as `itemStarted` returned it. */
  itemStopped(started: number): void {
    this.finish(started < 0 ? this.read() : started + CLOCK_BASE);
  }

  /** A queue item's try did not count after all (rate limited: it runs again with the same attempt number). */
  itemNotCounted(): void {
    this.runs--;
  }

  /** `runFailed` for a queue item, with its start as `itemStarted` returned it. */
  itemFailed(error: unknown, started: number): void {
    this.runFailed(error, started < 0 ? this.read() : started + CLOCK_BASE);
  }

  /** `finishedAt` (here and below): the end, when the caller has just read the clock; unset, read here. */
  runSucceeded(startedAt = this.startedAt, finishedAt?: number): void {
    this.consecutiveFailures = 0;
    this.finish(startedAt, finishedAt);
    this.succeededAt = this.finishedAt;
  }

  /** The run gave up because the host stopped it (it honoured its signal): finished, not failed. */
  runStopped(startedAt = this.startedAt, finishedAt?: number): void {
    this.finish(startedAt, finishedAt);
  }

  runFailed(error: unknown, startedAt = this.startedAt, finishedAt?: number): void {
    this.failures++;
    this.consecutiveFailures++;
    this.finish(startedAt, finishedAt);
    this.lastError = { ...errorSummary(error), at: new Date(this.finishedAt) };
  }

  snapshot(extra?: Partial<ServiceStatus>): ServiceStatus {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      runs: this.runs,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      lastStartedAt: this.startedAt ? new Date(this.startedAt) : undefined,
      lastFinishedAt: this.finishedAt ? new Date(this.finishedAt) : undefined,
      lastDurationMs: Number.isNaN(this.durationMs) ? undefined : this.durationMs,
      lastError: this.lastError,
      missedTicks: this.missedTicks,
      paused: this.paused,
      ...extra,
    };
  }

  private finish(startedAt: number, finishedAt: number = this.read()): void {
    this.finishedAt = finishedAt;
    this.durationMs = this.finishedAt - startedAt;
  }
}
