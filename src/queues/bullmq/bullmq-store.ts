import type { LoggerService } from '@nestjs/common';
import type { Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { ConnectionMonitor, OutageMessages } from '../../distributed/connection-monitor.js';
import type { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import type { BullMqModule } from '../../distributed/load-optional.js';
import type { StoreName } from '../../distributed/store-name.js';
import type { QueueRateLimit } from '../../interfaces/queue-options.interface.js';
import type { ItemOptions } from '../queue-backend.interface.js';

/**
 * Where a BullMQ queue keeps its jobs: Redis (BullMQ's own default) or PostgreSQL (BullMQ's
 * PostgreSQL backend, `createPostgresBackend`). `BullMqQueueBackend` is written once against BullMQ's
 * classes; what differs between the two stores is behind this interface: how the classes connect,
 * how their connections are watched, and the few calls BullMQ has no store-neutral API for (an id's
 * remaining deduplication time, the event stream's last entry, the cancel channel).
 * bullmq-redis-store.ts and bullmq-postgres-store.ts implement it.
 */
export interface BullMqStore {
  /** The store, as messages name it: `Redis`, `PostgreSQL`. */
  readonly storeName: StoreName;
  /** The backend, as a queue's log lines name it: `Queue "emails" (bullmq) worker`, `(bullmq on PostgreSQL)`. */
  readonly label: string;
  readonly messages: StoreMessages;
  /** A connection's outage lines (`ConnectionMonitor`). */
  readonly outage: OutageMessages;
  /** The `connection` option of the producer's `Queue`. */
  readonly producerConnection: unknown;
  /** The `connection` option of the `Worker` and of `QueueEvents`. */
  readonly workerConnection: unknown;
  /** False when the producer's connection is the app's (an ioredis instance, a `pg.Pool`): it is not cut at close. */
  readonly ownsProducer: boolean;
  /** False when the worker's connection is the app's, shared as is. */
  readonly ownsWorker: boolean;
  /** The parts of the `worker` connection (`ConnectionMonitor`): BullMQ's connections of a worker, and the cancel listener's. */
  readonly workerParts: readonly string[];
  /** Options the store adds to every `Worker`'s. */
  readonly workerOptions: Readonly<Record<string, unknown>>;
  /** The `max` that `Queue.getRateLimitTtl` is asked with for a worker without a limiter: any window `Queue.rateLimit` set counts. */
  readonly unlimitedMax: number;
  /** BullMQ's `limiter` option of a `Worker` given `limiter` by `@QueueWorker` (or none). */
  limiterOf(limiter: QueueRateLimit | undefined): { max: number; duration: number } | undefined;
  /**
   * A handler threw `RateLimitedError`: no worker of the queue, in any process, starts a job for
   * `retryAfterMs`, atomically with their fetches (`limited`: the worker has a limiter of its own).
   */
  pauseAll(queue: Queue, retryAfterMs: number, limited: boolean): Promise<void>;
  /** BullMQ's backend factory, the last argument of `Queue`, `Worker` and `QueueEvents` (undefined: BullMQ's default, Redis). */
  backendFactory(bull: BullMqModule): unknown;
  /** The error log of `subject` (`ErrorLogThrottle`), its lines worded for the store. */
  throttle(logger: LoggerService, subject: string): ErrorLogThrottle;
  /** True for errors that mean "the store cannot be reached right now". */
  isConnectionError(error: unknown): boolean;
  /** Throws a `TypeError` naming the path inside `item` (at `root`) when the item would not reach the worker as given. */
  checkItem(queue: string, item: unknown, root: string): void;
  /** Throws a `TypeError` naming the option when the store cannot keep one of an item's options. */
  checkItemOptions(queue: string, options: ItemOptions): void;
  /**
   * Readies the store for the queue's objects once per attempt (PostgreSQL: BullMQ's migrations).
   * Rejects with an error `isConnectionError` recognises while the store is unreachable (try again
   * later), with another when trying again will not help without a fix (rights, versions).
   */
  prepare(bull: BullMqModule): Promise<void>;
  /**
   * The producer's `Queue` was made: whatever start-up should wait for before the queue's worker
   * starts (PostgreSQL: sessions of the queue's pool opened, and BullMQ's fetch compiled in them).
   * Never rejects.
   */
  opened(queue: Queue): Promise<void>;
  /**
   * A worker with `concurrency` is about to start on `queue` (PostgreSQL: the queue's pool grows to
   * it, and a queue-wide limit a process that died mid-pause left is lifted).
   */
  workerStarting(queue: Queue, concurrency: number): void;
  /** Lets go of what the store holds for the queue (PostgreSQL: the queue's own pool), once its BullMQ objects are closed. */
  dispose(): Promise<void>;
  /** Feeds `monitor` from the connection(s) of one of the queue's BullMQ objects (`kind`: which one). */
  watch(target: Queue | Worker | QueueEvents, kind: WatchedKind, monitor: ConnectionMonitor, hooks: WatchHooks): ConnectionWatch;
  /**
   * Returns an active job this worker holds (`token`) to where it waited, unstarted (a job fetched
   * after the worker paused, a try cut off by the shutdown deadline or by `RateLimitedError`).
   */
  handBack(job: Job, token: string | undefined): Promise<void>;
  /**
   * A job whose handler threw `RateLimitedError` is about to be handed back by BullMQ itself
   * (`Worker.RateLimitError`): whatever the store must do first so that it keeps its place.
   */
  handBackLimited(job: Job, token: string | undefined): Promise<void>;
  /** `queue.remove(id)` (1 removed, 0 locked: a worker runs it), keeping what is left of the id's `idTtlMs`. */
  removeKeepingIdTtl(queue: Queue, id: string): Promise<number>;
  /** The id of the last entry of the queue's event stream (`'0'` when it has none yet): `QueueEvents`' starting point. */
  lastEventId(queue: Queue): Promise<string>;
  /** Starts hearing cancels of running jobs, published by any process (`publishCancel`), on part `part` of `monitor`. */
  listenForCancels(queue: Queue, onCancel: (id: string) => void, monitor: ConnectionMonitor, part: string, seen: WeakSet<object>, onError: (error: unknown) => void): CancelListener;
  /** Tells every process with a worker on the queue to abort job `id` if it runs it. */
  publishCancel(queue: Queue, id: string): Promise<void>;
}

/** The words of the backend's own messages that name the store. */
export interface StoreMessages {
  /** `QueueUnavailableError`'s message: the store is unreachable. */
  unavailable(queue: string, error: unknown): string;
  /** The cause of an enqueue that timed out. */
  enqueueTimedOut(timeoutMs: number, state: string): string;
  /** `QueueUnavailableError`'s message for an enqueue that timed out. */
  queueEnqueueTimedOut(queue: string, timeoutMs: number, state: string): string;
  /** A connection that cannot be made, and is not retried. */
  connectionFailed(subject: string, error: unknown): string;
  /** A worker stopped for reporting errors faster than any retry allows. */
  workerSpinning(queue: string, count: number, windowMs: number, error: unknown, restartInMs: number): string;
}

/** Which of a queue's BullMQ objects a watch is on: the producer's `Queue`, the `Worker`, the `QueueEvents`. */
export type WatchedKind = 'producer' | 'worker' | 'events';

/** What a watch reports to the backend. */
export interface WatchHooks {
  /** Errors reported through the monitor: whoever hears them again (the object's `error` listeners) skips them. */
  seen: WeakSet<object>;
  /** False once the watched object was replaced (a restarted worker): what the old one says no longer counts. */
  current(): boolean;
  /**
   * The object's connection could not be initialised. `recoverable`: the store was unreachable, and a
   * new object may succeed once it is back (PostgreSQL); else it fails for good (Redis options ioredis refuses).
   */
  initFailed(error: unknown, recoverable: boolean): void;
}

/** One BullMQ object's connection(s), as watched for `ServiceStatus.connections`. */
export interface ConnectionWatch {
  /**
   * A call on this connection failed with `error`: true when the store took it as the start of an
   * outage (a store whose clients report no connection events: the monitor goes down, and a probe
   * brings it up once the store answers), false otherwise (Redis: its clients report outages).
   */
  failed(error: unknown): boolean;
  /** A call on this connection succeeded (a probe for stores whose clients report no connection events). */
  succeeded(): void;
  close(): void;
}

/** The listener of a queue's cancel channel, in one process. */
export interface CancelListener {
  readonly isReady: boolean;
  /**
   * Settles once the listener first hears the channel, or its subscribe failed for good (reported
   * then: cancels of running items are not heard). The worker takes no item before, so that a cancel
   * of an item it took is never published before anyone here listens.
   */
  readonly listening: Promise<void>;
  close(): void;
}
