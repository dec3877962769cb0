import type {
  BackoffOptions,
  CancelResult,
  EnqueueOptions,
  DeadLetterPage,
  QueueEvent,
  QueueRateLimit,
} from '../interfaces/queue-options.interface.js';
import type { StoreName } from '../distributed/store-name.js';
import type { ConnectionStatus } from '../interfaces/service-status.interface.js';
import type { JobContext } from './job-context.js';

/**
 * Starts one delivery of `data` and returns what the handler returned: a promise (or thenable)
 * when it runs asynchronously, for the backend to await itself (no wrapper promise per item),
 * anything else when it finished synchronously. Throws what a synchronous handler threw. The
 * backend then reports the outcome to `WorkerPolicy.onAck` or `onNack`. The backend makes the
 * `JobContext`; it is the delivery's only record (no other object per item).
 */
export type JobProcessor<T> = (data: T, context: JobContext) => unknown;

/** How a backend runs the worker of its queue, and where it reports each outcome. */
export interface WorkerPolicy<T> {
  concurrency: number;
  /** Tries per item unless the item says otherwise (`JobContext.itemOptions.attempts`). */
  attempts: number;
  /** Backoff unless the item says otherwise (`JobContext.itemOptions.backoff`). */
  backoff: BackoffOptions;
  /** At most `max` starts per `durationMs` window (BullMQ: its limiter, across processes). */
  limiter?: QueueRateLimit;
  /** Longest one try runs unless the item says otherwise: then its signal aborts with `QueueItemTimeoutError` and the try fails with it (onNack). */
  timeoutMs?: number;
  /** The handler returned or resolved. */
  onAck(context: JobContext): void;
  /** The handler threw or rejected (before the backend decides on a retry). */
  onNack(context: JobContext, error: unknown): void;
  /** Called once per item that failed its last attempt (it is now a dead letter, unless the queue keeps none). */
  onFailed(data: T, context: JobContext, error: unknown): void;
  /** A running item ended as cancelled (`cancel(id)` aborted it and its handler threw or rejected), or a waiting one was removed (`context` undefined). */
  onCancelled(id: string, context?: JobContext): void;
  /** The handler threw `RateLimitedError`: the item went back to the head of the queue, its try not counted; deliveries wait until `until` (epoch ms). */
  onRateLimited(context: JobContext, until: number): void;
  /** Nothing waits and nothing runs any more (memory: after the last item settled). Not called by backends with `subscribe`. */
  onDrained?(): void;
}

/**
 * One item's own options as the backend gets them from `WorkQueue` (validated; `runAt` already
 * turned into `delayMs`). Backends keep them with the item and show them to the delivery as
 * `JobContext.itemOptions`.
 */
export type ItemOptions = Omit<EnqueueOptions, 'signal' | 'runAt'>;

/** Whether a processor's result is still running (a promise or another thenable). */
export function isPending(result: unknown): result is PromiseLike<unknown> {
  return result instanceof Promise || (result != null && typeof (result as PromiseLike<unknown>).then === 'function');
}

/** What the backend reports for `ServiceStatus`. */
export interface QueueCounts {
  depth: number;
  inFlight: number;
}

/**
 * Where a queue's items live and how they reach the worker. The memory backend and the BullMQ
 * backend implement it; `WorkQueue`, the per-item scope and status counting sit above it, shared.
 */
export interface QueueBackend<T> {
  /**
   * Adds an item and resolves with its id once it is accepted (after waiting for room, if full).
   * `headers` (written by enqueue interceptors) travel with the item: its deliveries' `JobContext.headers`.
   */
  enqueue(data: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>, options?: ItemOptions): Promise<string>;
  /**
   * Adds `items` in one go (BullMQ: one `addBulk` round trip; memory: one wake-up of the worker),
   * each with `options` and, when `ids` is given, `ids[i]` as its id (deduplicated as `enqueue` does).
   * Resolves with the ids in order. On a full memory queue, follows `fullMode` item by item.
   */
  enqueueMany(items: readonly T[], options: ItemOptions | undefined, ids: readonly string[] | undefined, headers?: Readonly<Record<string, string>>): Promise<string[]>;
  /**
   * Memory only: adds the item at once when there is room and returns true, false when full
   * (whatever `fullMode`), and throws `QueueClosedError` after shutdown began. No promise and no id.
   */
  tryEnqueue?(data: T, headers?: Readonly<Record<string, string>>): boolean;
  /** Removes a waiting/delayed/retry-waiting item, or aborts a running one's signal (BullMQ: on whichever process runs it). */
  cancel(id: string): Promise<CancelResult>;
  /** A page of dead letters, newest first. */
  deadLetters(offset: number, limit: number): Promise<DeadLetterPage<T>>;
  /** Puts dead letters back in the queue with their tries reset (all when `id` is undefined); resolves with how many. */
  redrive(id?: string): Promise<number>;
  /** Deletes dead letters (all when `id` is undefined); resolves with how many. */
  discard(id?: string): Promise<number>;
  /** Count of dead letters kept (for status; BullMQ: cached, refreshed with depth). */
  deadLetterCount(): number;
  /**
   * Cluster-wide events (BullMQ's QueueEvents), opened on first subscription. A backend without it
   * has its events emitted by `HostedQueue` from the `WorkerPolicy` calls (this process's own).
   */
  subscribe?(listener: (event: QueueEvent) => void): () => void;
  /** A running item reported progress (BullMQ: `job.updateProgress`, for its own tools and QueueEvents). */
  progress?(context: JobContext, value: number | object): void;
  /**
   * While the worker's `limiter` or a handler's `RateLimitedError` keeps tries from starting: the
   * instant (epoch ms) the next may start; undefined when one may start now (memory; BullMQ keeps
   * its limiter in Redis). `HostedQueue` shows it as `status.rateLimitedUntil`.
   */
  rateLimitedUntil?(): number | undefined;
  /** Starts delivering items to `process`; called once, at application bootstrap. */
  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void;
  /** From now on `enqueue` rejects with `QueueClosedError`. */
  closeIntake(): void;
  /**
   * Drains what is queued while `deadline` has not aborted; at the deadline aborts in-flight
   * signals. Resolves when no handler runs any more (or right after the deadline, abandoning
   * handlers that ignore their signal), with the count of items left undelivered
   * (memory: dropped and reported; durable: still in the store for the next process).
   */
  stop(deadline: AbortSignal): Promise<{ undelivered: number }>;
  counts(): QueueCounts;
  pause(): void;
  resume(): void;
  /** The store a durable backend keeps its items in, as messages name it (BullMQ: `Redis` or `PostgreSQL`). */
  readonly storeName?: StoreName;
  /** The state of each connection to the backend's store (durable backends). */
  connections?(): ConnectionStatus[];
  /** Releases connections; called after `stop`, in `onApplicationShutdown`. */
  dispose?(): Promise<void>;
  /**
   * Resolves once no item is queued (and deliverable) or in flight here; with `retries`, also once
   * no retry waits out its backoff. Undefined when that is so already. `WorkQueue.drain` and
   * `HostingRegistry.whenIdle` use it.
   */
  whenSettled?(retries: boolean): Promise<void> | undefined;
}
