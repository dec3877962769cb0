/** What a hosted unit is. */
export type ServiceKind = 'background' | 'periodic' | 'queue';

/**
 * Where a hosted unit is in its life. `'disabled'`: turned off for this process (`enabled: false`
 * on the unit or its kind in `HostingModule.forRoot`): never started, not a failure for health.
 */
export type ServiceState = 'starting' | 'running' | 'idle' | 'stopping' | 'stopped' | 'faulted' | 'disabled';

/** Where one connection of a hosted unit to its store (Redis) is. */
export type ConnectionState = 'connecting' | 'up' | 'down';

/** One connection of a hosted unit: a BullMQ queue's producer and worker, the Redis of exclusive tasks. */
export interface ConnectionStatus {
  /** Which connection: `'producer'` and `'worker'` for a BullMQ queue, `'redis'` for exclusive periodic tasks. */
  name: string;
  state: ConnectionState;
  /** When it entered this state. */
  since: Date;
  /** While down: the error that took it down. */
  lastError?: string;
}

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
  /**
   * Periodic: past `dueBy` without a successful run (missed-run alert: `staleAfterMs`,
   * `HostingOptions.staleAfterPeriods`). Never true for a disabled or stopped task, nor once the host is stopping.
   */
  late?: boolean;
  /** Periodic: when its last successful run finished (for an exclusive task, on any instance). */
  lastSucceededAt?: Date;
  /** Periodic: when it should have succeeded again by; past it, the task is `late`. Unset when the check is off. */
  dueBy?: Date;
  /** Queue: items waiting. */
  depth?: number;
  /** Queue: items being handled now. */
  inFlight?: number;
  /** Queue: items handled successfully. */
  processed?: number;
  /** Queue: items that failed their last attempt. */
  failed?: number;
  /** Queue: failed tries that are tried again (each retry counts once). */
  retried?: number;
  /** Queue: items handed to `onDropped` (memory: evicted by `fullMode`, or left undelivered at the shutdown deadline); 0 on BullMQ, whose items stay in Redis. */
  dropped?: number;
  /** Queue: items cancelled by `WorkQueue.cancel` (removed before they ran, or ended by the abort), in this process. */
  cancelled?: number;
  /** Queue: dead letters kept (items that failed their last attempt; memory: exact; BullMQ: the failed set, refreshed with depth). */
  deadLetters?: number;
  /** Queue: items running in this process that reported `ctx.progress(value)`, with their latest value. */
  progress?: Array<{ id: string; attempt: number; value: number | object }>;
  /** Queue: deliveries wait until then (a handler threw `RateLimitedError`, or the limiter's window is full). */
  rateLimitedUntil?: Date;
  /** Queue: where its items live. */
  backend?: 'memory' | 'bullmq';
  /** Queue (bullmq) and exclusive periodic task: the state of each connection to Redis. */
  connections?: ConnectionStatus[];
}
