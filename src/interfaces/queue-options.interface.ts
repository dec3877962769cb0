import type { ConnectionOptions } from './redis-connection.interface.js';

/** What a bounded memory queue does when it is full (.NET's BoundedChannelFullMode). */
export type QueueFullMode = 'wait' | 'dropOldest' | 'dropNewest' | 'reject';

/** The durable backend of a queue: BullMQ on Redis. */
export interface BullMqBackendOptions {
  type: 'bullmq';
  /** Redis connection; defaults to `HostingOptions.redis`. */
  connection?: ConnectionOptions;
  /** Key prefix of BullMQ's keys. @default 'bull' */
  prefix?: string;
  /**
   * How long a worker's claim on a job lasts without renewal (renewed at half of it while the job
   * runs). A job whose process died goes back to the queue once its claim lapses.
   * @default 30000 (BullMQ's default)
   */
  lockDurationMs?: number;
  /** How often workers look for jobs whose claim lapsed (their process died). @default 30000 */
  stalledIntervalMs?: number;
  /**
   * The longest `enqueue` waits for Redis to confirm an item; past it, it rejects with
   * `QueueUnavailableError` (an HTTP handler can answer 503 instead of hanging). While the producer
   * connection is known to be down, `enqueue` rejects at once without waiting. 5 s covers a
   * reconnect attempt (ioredis retries every 250 ms to 5 s) and a Redis that pauses for a fork or
   * a failover, and is well under the usual 30–60 s HTTP timeouts. From 1 to 2^31−1 ms.
   * @default 5000
   */
  enqueueTimeoutMs?: number;
  /**
   * BullMQ's own OpenTelemetry support, handed to its `Queue` and `Worker` as their `telemetry`
   * option: `new BullMQOtel({ tracerName: 'my-app' })` from `bullmq-otel`. BullMQ then adds its spans (`add …`,
   * `process …`) beside the library's (`HostingOpenTelemetryModule`), in the same trace.
   */
  telemetry?: BullMqTelemetry;
}

/**
 * The shape of BullMQ's `Telemetry` interface (`tracer`, `contextManager`, optional `meter`), which
 * `new BullMQOtel(…)` from `bullmq-otel` implements; declared here so that the option's type does not
 * depend on bullmq being installed.
 */
export interface BullMqTelemetry {
  tracer: { startSpan(...args: never[]): unknown };
  contextManager: {
    with(...args: never[]): unknown;
    active(): unknown;
    getMetadata(...args: never[]): string;
    fromMetadata(...args: never[]): unknown;
  };
  meter?: unknown;
}

/** Where a queue keeps its items: in process memory (default) or in Redis through BullMQ. */
export type QueueBackendOptions = 'memory' | { type: 'memory' } | 'bullmq' | BullMqBackendOptions;

/** Options of `HostingModule.registerQueue`. */
export interface QueueOptions<T = unknown> {
  /** The queue's name, used by `@InjectQueue(name)` and `@QueueWorker(name)`. */
  name: string;
  /** Memory backend: most items held at once; unbounded when not set. */
  capacity?: number;
  /** Memory backend: what `enqueue` does when `capacity` is reached. @default 'wait' */
  fullMode?: QueueFullMode;
  /** Where items are kept. @default 'memory' */
  backend?: QueueBackendOptions;
  /** Called for an item evicted by `dropOldest`/`dropNewest`, or left undelivered at shutdown (memory backend). */
  onDropped?: (item: T, reason: 'dropOldest' | 'dropNewest' | 'shutdown') => void;
  /** Called once for an item that failed its last attempt. */
  onFailed?: (item: T, error: unknown, context: { id: string; attempts: number }) => void;
}

/** How a failed item is retried. */
export interface BackoffOptions {
  type: 'fixed' | 'exponential';
  /** Delay before the first retry; doubled each retry when exponential. */
  delayMs: number;
}

/** Options of `@QueueWorker`. */
export interface QueueWorkerOptions {
  /** Items handled at once. @default 1 */
  concurrency?: number;
  /** Tries per item, the first included. @default 1 */
  attempts?: number;
  /** Delay between tries. @default { type: 'fixed', delayMs: 0 } */
  backoff?: BackoffOptions;
  /**
   * `false`: the worker does not consume the queue in this process; the queue stays usable to
   * enqueue, and is listed with state `'disabled'`. With BullMQ another process consumes the
   * items; with the memory backend they wait in this process's memory (a warning at start-up).
   * See also `HostingOptions.enabled`.
   * @default true
   */
  enabled?: boolean;
}

/** Options of `WorkQueue.enqueue`. */
export interface EnqueueOptions {
  /** Cancels a wait for room (fullMode 'wait'). */
  signal?: AbortSignal;
}
