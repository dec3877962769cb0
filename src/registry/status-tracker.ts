import type { ServiceKind, ServiceState, ServiceStatus } from '../interfaces/service-status.interface.js';

const errorSummary = (error: unknown, at: Date) =>
  error instanceof Error
    ? { message: error.message, stack: error.stack, at }
    : { message: String(error), at };

/** Counts runs and failures of one hosted unit and produces its `ServiceStatus`. */
export class StatusTracker {
  state: ServiceState = 'starting';
  runs = 0;
  failures = 0;
  consecutiveFailures = 0;
  missedTicks = 0;
  paused = false;
  lastStartedAt?: Date;
  lastFinishedAt?: Date;
  lastDurationMs?: number;
  lastError?: ServiceStatus['lastError'];

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
  ) {}

  runStarted(at = new Date()): void {
    this.runs++;
    this.lastStartedAt = at;
  }

  runSucceeded(at = new Date()): void {
    this.consecutiveFailures = 0;
    this.finish(at);
  }

  runFailed(error: unknown, at = new Date()): void {
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = errorSummary(error, at);
    this.finish(at);
  }

  snapshot(extra?: Partial<ServiceStatus>): ServiceStatus {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      runs: this.runs,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      lastStartedAt: this.lastStartedAt,
      lastFinishedAt: this.lastFinishedAt,
      lastDurationMs: this.lastDurationMs,
      lastError: this.lastError,
      missedTicks: this.missedTicks,
      paused: this.paused,
      ...extra,
    };
  }

  private finish(at: Date): void {
    this.lastFinishedAt = at;
    if (this.lastStartedAt) this.lastDurationMs = at.getTime() - this.lastStartedAt.getTime();
  }
}
