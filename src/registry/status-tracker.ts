import type { ServiceKind, ServiceState, ServiceStatus } from '../interfaces/service-status.interface.js';

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
  private finishedAt = 0;
  private lastError?: ServiceStatus['lastError'];

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
  ) {}

  runStarted(): void {
    this.runs++;
    this.startedAt = Date.now();
  }

  runSucceeded(): void {
    this.consecutiveFailures = 0;
    this.finishedAt = Date.now();
  }

  runFailed(error: unknown): void {
    this.failures++;
    this.consecutiveFailures++;
    this.finishedAt = Date.now();
    this.lastError =
      error instanceof Error
        ? { message: error.message, stack: error.stack, at: new Date(this.finishedAt) }
        : { message: String(error), at: new Date(this.finishedAt) };
  }

  snapshot(extra?: Partial<ServiceStatus>): ServiceStatus {
    const finished = this.finishedAt >= this.startedAt && this.finishedAt > 0;
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      runs: this.runs,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      lastStartedAt: this.startedAt ? new Date(this.startedAt) : undefined,
      lastFinishedAt: this.finishedAt ? new Date(this.finishedAt) : undefined,
      lastDurationMs: finished ? this.finishedAt - this.startedAt : undefined,
      lastError: this.lastError,
      missedTicks: this.missedTicks,
      paused: this.paused,
      ...extra,
    };
  }
}
