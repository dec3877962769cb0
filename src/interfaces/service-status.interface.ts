/** What a hosted unit is. */
export type ServiceKind = 'background' | 'periodic' | 'queue';

/** Where a hosted unit is in its life. */
export type ServiceState = 'starting' | 'running' | 'idle' | 'stopping' | 'stopped' | 'faulted';

/** A snapshot of one hosted unit, as `HostingRegistry` reports it. */
export interface ServiceStatus {
  name: string;
  kind: ServiceKind;
  state: ServiceState;
  /** Runs started (ticks, `execute` calls, queue items). */
  runs: number;
  /** Runs that threw or rejected. */
  failures: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  lastStartedAt?: Date;
  lastFinishedAt?: Date;
  lastDurationMs?: number;
  lastError?: { message: string; stack?: string; at: Date };
  /** Periodic: ticks coalesced away because a run overran them. */
  missedTicks: number;
  /** Periodic: when the next scheduled tick is due (undefined during a scheduled run, while paused and once stopped). */
  nextRunAt?: Date;
  /** Periodic and queue: paused through `HostingRegistry.pause`. */
  paused?: boolean;
  /** Periodic: the schedule as written: `every 60000 ms` or `cron <expression> (<zone>)`. */
  schedule?: string;
  /** Periodic: the period in milliseconds (for cron, the gap between the next two slots). */
  periodMs?: number;
  /** Queue: items waiting. */
  depth?: number;
  /** Queue: items being handled now. */
  inFlight?: number;
  /** Queue: items handled successfully. */
  processed?: number;
  /** Queue: items that failed their last attempt. */
  failed?: number;
  /** Queue: where its items live. */
  backend?: 'memory' | 'bullmq';
}
