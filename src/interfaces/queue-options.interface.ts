import type { OutboxTransaction } from './outbox-options.interface.js';
import type { PostgresConnectionOptions } from './postgres-connection.interface.js';
import type { ConnectionOptions } from './redis-connection.interface.js';

/** What a bounded memory queue does when it is full (.NET's BoundedChannelFullMode). */
export type QueueFullMode = 'wait' | 'dropOldest' | 'dropNewest' | 'reject';

/** The durable backend of a queue: BullMQ, on Redis or on PostgreSQL. */
export interface BullMqBackendOptions {
  type: 'bullmq';
  /** Redis connection; defaults to `HostingOptions.redis`. Not with `postgres`. */
  connection?: ConnectionOptions;
  /**
   * BullMQ on PostgreSQL (BullMQ's own PostgreSQL backend, `createPostgresBackend`) instead of Redis:
   * a connection, or `true` for `HostingOptions.postgres`. Not with `connection`. A queue without
   * either uses `HostingOptions.redis`, else `HostingOptions.postgres`.
   */
  postgres?: true | PostgresConnectionOptions;
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
  /**
   * How many finished (successful) jobs BullMQ keeps in Redis, by count and/or age; `true` removes each
   * at once, `false` keeps every one (Redis grows for ever). Jobs enqueued with an `id` are removed as
   * they complete whatever this says (the id is free again once the item finished).
   * Failed jobs are the queue's dead letters: see `QueueOptions.deadLetters`.
   * @default { count: 1000 }
   */
  removeOnComplete?: boolean | RetentionOptions;
}

/** How many finished items a store keeps: the newest `count`, and/or those younger than `ageMs`. */
export interface RetentionOptions {
  count?: number;
  ageMs?: number;
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
  /**
   * Where items that failed their last attempt are kept, for `HostingRegistry.deadLetters` to list and
   * `redrive` / `discard` to act on (memory: in this process; BullMQ: the queue's failed set in Redis).
   * The oldest are let go past `count` (and, with `ageMs`, once older than it). `false` keeps none.
   * @default { count: 1000 } on memory, { count: 10000 } on BullMQ
   */
  deadLetters?: false | RetentionOptions;
}

/** How a failed item is retried. */
export interface BackoffOptions {
  type: 'fixed' | 'exponential';
  /** Delay before the first retry; doubled each retry when exponential. */
  delayMs: number;
}

/**
 * At most `max` items start per `durationMs` window, per queue (on BullMQ across every process of the
 * queue: BullMQ's own limiter, kept in Redis). Items over the limit wait in the queue, in order.
 */
export interface QueueRateLimit {
  max: number;
  durationMs: number;
}

/** Options of `@QueueWorker`. */
export interface QueueWorkerOptions {
  /** Items handled at once. @default 1 */
  concurrency?: number;
  /** Tries per item, the first included. @default 1 */
  attempts?: number;
  /** Delay between tries. @default { type: 'fixed', delayMs: 0 } */
  backoff?: BackoffOptions;
  /** Rate limit of the queue's deliveries. @default none */
  limiter?: QueueRateLimit;
  /**
   * Longest a try may run: past it the item's `ctx.signal` aborts (reason `QueueItemTimeoutError`)
   * and the try fails with that error at once (retried per `attempts`), freeing its lane even when the
   * handler ignores the signal. An item's own `timeoutMs` wins. From 1 to 2^31−1 ms. @default none
   */
  timeoutMs?: number;
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
  /** Runs the item no sooner than this many milliseconds from now (0 to 2^31−1). Not with `runAt`. */
  delayMs?: number;
  /** Runs the item no sooner than this instant (one in the past runs it now). Not with `delayMs`. */
  runAt?: Date;
  /**
   * An integer from 1 (first) to 2 097 151: lower runs first, in order of enqueue within one
   * priority. Items enqueued without a priority (or 0) run before any prioritized item (BullMQ's rule,
   * kept on every backend).
   */
  priority?: number;
  /**
   * The item's id (deduplication): while an item with this id waits, is delayed, runs or waits to
   * retry, or lies among the dead letters, enqueueing the id again adds nothing and resolves with the
   * id. Once the item completed (or was cancelled, redriven or discarded) the id is free again, unless
   * `idTtlMs` holds it longer. A non-empty string of at most 200 characters, not only digits (those
   * are the queue's own ids) and without `:`.
   */
  id?: string;
  /** With `id`: the id stays taken for this many milliseconds from the enqueue, even once the item finished (throttling). */
  idTtlMs?: number;
  /** Tries for this item, the first included; wins over the worker's `attempts`. */
  attempts?: number;
  /** Delay between this item's tries; wins over the worker's `backoff`. */
  backoff?: BackoffOptions;
  /** Longest one try of this item may run; wins over the worker's `timeoutMs`. */
  timeoutMs?: number;
  /**
   * The transactional outbox (`HostingModule.forRoot({ outbox })`): the app's transaction to write
   * the item in, as a row of the outbox table; the item reaches the queue once (and only if) that
   * transaction commits, handed over by the relay with the options above (a delay counts from this
   * call) and the headers of enqueue interceptors. SQLite: the better-sqlite3 `Database` inside
   * `db.transaction(() => …)`; the row is written before `enqueue` returns, and errors throw (rolling
   * the transaction back) rather than reject. PostgreSQL: the `pg` client the app ran `BEGIN` on;
   * await `enqueue` before `COMMIT`. `'ambient'`: the current transaction of `@nestjs-cls/transactional`
   * (or pass a `TransactionHost`). Not with `signal`.
   */
  transaction?: OutboxTransaction;
  /**
   * With `transaction`: rows of one queue and ordering key reach the queue one at a time, in the order
   * their transactions committed (on PostgreSQL, writers of one key wait for each other until commit);
   * a row that cannot be handed to the queue holds back that key's later rows, and only those.
   * Rows without a key have no order among themselves. A non-empty string of at most 200 characters.
   */
  orderingKey?: string;
}

/** Options of `WorkQueue.enqueueMany`: those of `enqueue`, the same for every item; `id` derives each item's id. No outbox (`transaction`). */
export interface EnqueueManyOptions<T> extends Omit<EnqueueOptions, 'id' | 'transaction' | 'orderingKey'> {
  id?: (item: T, index: number) => string;
}

/** What `WorkQueue.cancel(id)` did: removed a waiting (or delayed, or retry-waiting) item, aborted a running one's signal, or found none. */
export type CancelResult = 'removed' | 'aborted' | 'not-found';

/** An item that failed its last attempt, as `HostingRegistry.deadLetters` lists it. */
export interface DeadLetter<T = unknown> {
  id: string;
  data: T;
  /** The last try's error (name, message, stack when known). */
  error: { name: string; message: string; stack?: string };
  /** Tries made. */
  attempts: number;
  failedAt: Date;
}

/** One page of a queue's dead letters, newest first. */
export interface DeadLetterPage<T = unknown> {
  /** Dead letters kept in all. */
  total: number;
  items: DeadLetter<T>[];
}

/**
 * What happens to a queue's items: `completed` (a try succeeded), `failed` (a try failed; `willRetry`
 * says whether another follows), `deadLettered` (the last try failed), `stalled` (BullMQ: a worker's
 * claim lapsed, its process died; a memory queue never emits it, and refuses a listener that names it), `drained` (nothing left waiting, nothing running).
 * On memory these are this process's; on BullMQ the whole cluster's (BullMQ's QueueEvents).
 */
export type QueueEventName = 'completed' | 'failed' | 'deadLettered' | 'stalled' | 'drained';

/** One queue event, as `@OnQueueEvent` methods and `HostingRegistry.onQueueEvent` listeners receive it. */
export interface QueueEvent {
  queue: string;
  name: QueueEventName;
  /** The item (every event but `drained`). */
  id?: string;
  /** The try that ended (`completed`, `failed`, `deadLettered`) when known. */
  attempt?: number;
  /** `failed`, `deadLettered`: the error's message. */
  error?: string;
  /** `failed`: another try follows. */
  willRetry?: boolean;
  at: Date;
}
