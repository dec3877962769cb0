import type { BackoffOptions } from '../interfaces/queue-options.interface.js';

/** One item as a backend delivers it. */
export interface DeliveredJob<T> {
  id: string;
  data: T;
  /** 1-based try number. */
  attempt: number;
}

/**
 * Handles one delivery: return or resolve = ack, throw or reject = nack (retried per policy).
 * Returns undefined when the handler finished synchronously, so fast handlers cost no promise.
 */
export type JobProcessor<T> = (job: DeliveredJob<T>, signal: AbortSignal) => Promise<void> | void;

/** How a backend runs the worker of its queue. */
export interface WorkerPolicy<T> {
  concurrency: number;
  attempts: number;
  backoff: BackoffOptions;
  /** Called once per item that failed its last attempt. */
  onFailed(job: DeliveredJob<T>, error: unknown): void;
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
  /** Adds an item and resolves with its id once it is accepted (after waiting for room, if full). */
  enqueue(data: T, signal?: AbortSignal): Promise<string>;
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
  /** Releases connections; called after `stop`, in `onApplicationShutdown`. */
  dispose?(): Promise<void>;
}
