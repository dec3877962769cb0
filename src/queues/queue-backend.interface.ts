import type { BackoffOptions } from '../interfaces/queue-options.interface.js';
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
  attempts: number;
  backoff: BackoffOptions;
  /** The handler returned or resolved. */
  onAck(context: JobContext): void;
  /** The handler threw or rejected (before the backend decides on a retry). */
  onNack(context: JobContext, error: unknown): void;
  /** Called once per item that failed its last attempt. */
  onFailed(data: T, context: JobContext, error: unknown): void;
}

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
  enqueue(data: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<string>;
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
