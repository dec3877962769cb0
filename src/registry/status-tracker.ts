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
  private previousStartedAt = 0;
  private finishedAt = 0;
  private durationMs?: number;
  private lastError?: ServiceStatus['lastError'];

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
    private readonly now: Clock = Date.now,
  ) {}

  /** Returns the start time, for units whose runs overlap (queue workers above concurrency 1). */
  runStarted(): number {
    this.runs++;
    this.previousStartedAt = this.startedAt;
    return (this.startedAt = this.now());
  }

  /** The run did not happen here after all (an exclusive tick another instance ran): not counted. */
  runSkipped(): void {
    this.runs--;
    this.startedAt = this.previousStartedAt;
  }

  /**
   * A queue item started (items overlap above concurrency 1): counted, and its start time, on the
   * coarse clock, returned for `itemSucceeded` or `runFailed`. Two field writes: this runs per item.
   */
  itemStarted(): number {
    this.runs++;
    return coarseClock();
  }

  /** A queue item finished: its start, end and duration become the last run's. */
  itemSucceeded(startedAt: number): void {
    const now = coarseClock();
    this.consecutiveFailures = 0;
    this.startedAt = startedAt;
    this.finishedAt = now;
    this.durationMs = now - startedAt;
  }

  runSucceeded(startedAt = this.startedAt): void {
    this.consecutiveFailures = 0;
    this.finish(startedAt);
  }

  runFailed(error: unknown, startedAt = this.startedAt): void {
    this.failures++;
    this.consecutiveFailures++;
    this.finish(startedAt);
    this.lastError =
      error instanceof Error
        ? { message: error.message, stack: error.stack, at: new Date(this.finishedAt) }
        : { message: String(error), at: new Date(this.finishedAt) };
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
      lastDurationMs: this.durationMs,
      lastError: this.lastError,
      missedTicks: this.missedTicks,
      paused: this.paused,
      ...extra,
    };
  }

  private finish(startedAt: number): void {
    this.finishedAt = this.now();
    this.durationMs = this.finishedAt - startedAt;
  }
}
