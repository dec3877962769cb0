import type { LoggerService } from '@nestjs/common';
import type { Job, JobsOptions, KeepJobs, Queue, QueueOptions, Telemetry, Worker, WorkerOptions } from 'bullmq';
import { ConnectionMonitor } from '../../distributed/connection-monitor.js';
import type { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import { loadBullMq, type BullMqModule } from '../../distributed/load-optional.js';
import type { StoreName } from '../../distributed/store-name.js';
import { ENQUEUE_CANCELLED_AT_SHUTDOWN, WORKER_NOT_STARTED, WORKER_RESTARTED, WORKER_SPINNING_STATUS } from '../../distributed/redis.messages.js';
import { errorMessage, toError } from '../../errors/thrown-value.js';
import { QUEUE_DEADLINE_PASSED, stackOf } from '../../hosting.messages.js';
import type { ConnectionOptions } from '../../interfaces/redis-connection.interface.js';
import type { PostgresConnectionOptions } from '../../interfaces/postgres-connection.interface.js';
import type { ConnectionStatus } from '../../interfaces/service-status.interface.js';
import type { BullMqTelemetry, DeadLetter, RetentionOptions } from '../../interfaces/queue-options.interface.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { QueueItemCancelledError } from '../errors/queue-item-cancelled.error.js';
import { ItemSignals } from '../item-signals.js';
import { JobContext } from '../job-context.js';
import type { CancelResult, DeadLetterPage } from '../../interfaces/queue-options.interface.js';
import { isPending, type ItemOptions, type JobProcessor, type QueueBackend, type QueueCounts, type WorkerPolicy } from '../queue-backend.interface.js';
import { closeOrCut, raceAbort } from './bounded-waits.js';
import { DEFAULT_ENQUEUE_TIMEOUT_MS, queueConnectionOwner, queuePostgresOwner, validateBullMqBackendOptions } from './bullmq-options.validation.js';
import { BACKEND_TWO_STORES, PG_OPTION_UNSUPPORTED, QUEUE_OPEN_RETRYING } from './bullmq-postgres.messages.js';
import { PostgresStore } from './bullmq-postgres-store.js';
import { RedisStore } from './bullmq-redis-store.js';
import type { BullMqStore, CancelListener, ConnectionWatch } from './bullmq-store.js';
import { carriedItemOptions, decodeItemOptions, encodeMetadata } from './item-metadata.js';
import { PendingEnqueues } from './pending-enqueues.js';
import { QueueUnavailableError } from './queue-unavailable.error.js';
import type { QueueEvent } from '../../interfaces/queue-options.interface.js';
import { QueueItemTimeoutError } from '../errors/queue-item-timeout.error.js';
import { retryAfterOf } from '../retry-after.js';
import { BullMqQueueEvents, CANCELLED_REASON, EVENT_STREAM_MAX_LEN, RETRY_EVENT } from './bullmq-queue-events.js';

/** Options of the BullMQ backend of one queue. */
export interface BullMqQueueBackendOptions {
  /** The queue's name (BullMQ's queue name). */
  queueName: string;
  /** Redis: a `redis://` URL, ioredis options, or an ioredis instance (shared, left open). Not with `postgres`. */
  connection?: ConnectionOptions;
  /**
   * PostgreSQL instead of Redis (BullMQ's PostgreSQL backend): a `postgres://` URL, `pg` pool options
   * (`schema` included), or a `pg.Pool` (shared as it is, never ended here). Not with `connection`.
   */
  postgres?: PostgresConnectionOptions;
  /**
   * Who gave `connection` (or `postgres`), as the start-up error names it.
   * @default `HostingModule.registerQueue("<name>"): option "backend.connection"` (`"backend.postgres"`)
   */
  connectionOwner?: string;
  /** Prefix of BullMQ's Redis keys (Redis only: on PostgreSQL the connection's `schema` is the namespace). @default 'bull' */
  prefix?: string;
  logger: LoggerService;
  /**
   * How long a worker's claim on a job lasts without renewal (renewed at half of it while the
   * job runs). A job whose process died goes back to the queue once its claim lapses.
   * @default 30000 (BullMQ's default)
   */
  lockDurationMs?: number;
  /** How often the worker looks for jobs whose claim lapsed (their process died). @default 30000 */
  stalledIntervalMs?: number;
  /** How long `enqueue` waits for Redis to confirm an item before it rejects with `QueueUnavailableError`. @default 5000 */
  enqueueTimeoutMs?: number;
  /** BullMQ's own telemetry (`new BullMQOtel({ tracerName: 'my-app' })` from bullmq-otel), given to its Queue and Worker. */
  telemetry?: BullMqTelemetry;
  /**
   * Finished jobs the worker leaves in Redis (`BullMqBackendOptions.removeOnComplete`): `true` none,
   * `false` all. Jobs enqueued with an `id` are removed as they complete whatever this says.
   * @default { count: 1000 }
   */
  removeOnComplete?: boolean | RetentionOptions;
  /** Failed jobs (the dead letters) the worker leaves in Redis (`QueueOptions.deadLetters`): `false` none. @default { count: 10000 } */
  deadLetters?: false | RetentionOptions;
}

/** How often cached counts are refreshed from Redis (one round trip). */
const COUNTS_REFRESH_MS = 1_000;
/** How often `drain()` asks Redis whether the queue has settled. */
const DRAIN_POLL_MS = 50;
/** Longest wait for the final count of undelivered jobs at shutdown. */
const FINAL_COUNT_TIMEOUT_MS = 2_000;
/** Jobs kept in Redis after they finish (BullMQ keeps every one by default). */
const KEEP_COMPLETED: RetentionOptions = { count: 1_000 };
const KEEP_FAILED: RetentionOptions = { count: 10_000 };
const UNDELIVERED_STATES = ['wait', 'prioritized', 'delayed'] as const;
/** What `refreshCounts` asks Redis for: the depth's states and the dead letters. */
const COUNTED_STATES = [...UNDELIVERED_STATES, 'failed'] as const;
/** States of a job `cancel` removes: it has not started, or waits out a retry's backoff (`delayed`) or is back in `wait`. */
const CANCELLABLE_STATES: ReadonlySet<string> = new Set(['wait', 'waiting', 'delayed', 'prioritized', 'paused']);
/** Dead letters read per round trip by `redrive()` of them all. */
const REDRIVE_BATCH = 500;
/**
 * `discard()` of every dead letter cleans the failed set up to this far past this host's clock: a
 * job's place in it is the finishing worker's clock, which may run ahead of this one's.
 */
const DISCARD_CLOCK_MARGIN_MS = 24 * 60 * 60 * 1000;
/** The first retry of a queue that cannot open (its store unreachable at start), doubled up to the longest. */
const FIRST_OPEN_RETRY_MS = 250;
const MAX_OPEN_RETRY_MS = 5_000;
/** A worker whose connection could not start (its store unreachable then) tries again after this. */
const WORKER_NOT_READY_RETRY_MS = 1_000;

/** BullMQ's removal option for a retention: undefined keeps every job (BullMQ's default), `{ count: 0 }` none. */
export function keepJobs(retention: boolean | RetentionOptions | undefined, fallback: RetentionOptions): KeepJobs | undefined {
  if (retention === true) return { count: 0 };
  if (retention === false) return undefined;
  const { count, ageMs } = retention ?? fallback;
  if (ageMs !== undefined) return { age: Math.ceil(ageMs / 1000), ...(count !== undefined && { count }) };
  return count !== undefined ? { count } : undefined;
}
/** What `handle` returns for a delivery that succeeded synchronously: BullMQ awaits a promise. */
const DONE: Promise<void> = Promise.resolve();
/**
 * A worker that reports this many errors within `SPIN_WINDOW_MS` is spinning: BullMQ retries a
 * failed fetch without any delay when the error is not one of its connection errors (a replica's
 * READONLY, a key of the wrong type, …), which is thousands of Redis calls and log lines a second.
 * Legitimate errors come one per reconnect attempt, or one per 100 ms at most.
 */
const SPIN_MIN_ERRORS = 100;
const SPIN_WINDOW_MS = 2_000;
/** A worker stopped for spinning restarts after this delay, doubled at each new stop up to the maximum. */
const FIRST_RESTART_DELAY_MS = 5_000;
const MAX_RESTART_DELAY_MS = 5 * 60_000;
/** A stop this long after the previous one starts the delays over. */
const RESTART_BACKOFF_RESET_MS = 10 * 60_000;

/**
 * The store of a queue's options: PostgreSQL with `postgres` (a `prefix` refused: BullMQ's
 * PostgreSQL backend ignores it, the connection's `schema` is its namespace), else Redis.
 */
function storeOf(name: string, options: BullMqQueueBackendOptions): BullMqStore {
  const { connection, postgres, connectionOwner, prefix } = options;
  if (postgres === undefined) return new RedisStore(connectionOwner ?? queueConnectionOwner(name), connection as ConnectionOptions);
  if (connection !== undefined) throw new TypeError(BACKEND_TWO_STORES(name));
  if (prefix !== undefined) throw new TypeError(PG_OPTION_UNSUPPORTED(name, 'prefix', prefix, "the connection's schema is the namespace there: give postgres: { connectionString, schema }"));
  return new PostgresStore(name, connectionOwner ?? queuePostgresOwner(name), postgres);
}

/** BullMQ's classes as this backend makes them: with a backend factory (BullMQ's PostgreSQL backend) or without (Redis). */
type QueueClass = new (name: string, opts: QueueOptions, backendFactory?: unknown) => Queue;
type WorkerClass = new (name: string, processor: (job: Job, token?: string) => Promise<void>, opts: WorkerOptions, backendFactory?: unknown) => Worker;

/**
 * The durable backend: a BullMQ `Queue` for `enqueue` and a BullMQ `Worker` for delivery, so
 * retries, delays, crash recovery (stalled jobs) and several processes on one queue are
 * BullMQ's own. bullmq is loaded on first use, never by apps that do not use this backend.
 * The jobs live in Redis (BullMQ's default) or in PostgreSQL (BullMQ's PostgreSQL backend):
 * what differs is behind `BullMqStore` (bullmq-redis-store.ts, bullmq-postgres-store.ts).
 *
 * Each connection has its own state and outage log (`producer`: the `Queue`; `worker`: the
 * `Worker`'s connections and the cancel listener together; `events`: the `QueueEvents` once
 * `subscribe` was called), reported by `connections()`. Redis connections per process and queue: 1
 * for a producer-only process, 4 with a worker here (producer, the worker's two, the cancel
 * subscriber of bullmq-cancel-channel.ts), and 1 more once events are subscribed. PostgreSQL: one
 * pool per queue and process for all three (sessions opened as calls need them, closed when idle;
 * the worker's and the events' LISTEN each hold one), and with a worker here the cancel listener's
 * session (bullmq-postgres-store.ts).
 */
export class BullMqQueueBackend<T> implements QueueBackend<T> {
  /**
   * Settles once bullmq is loaded and the producer exists (PostgreSQL: its schema checked and
   * migrated, or found unreachable: then the queue opens once it is back); rejects with install
   * guidance when bullmq (or pg) is missing, and with the fix when PostgreSQL refuses the schema.
   */
  readonly ready: Promise<void>;
  private readonly name: string;
  private readonly logger: LoggerService;
  /** Redis or PostgreSQL: how BullMQ's classes connect, and what differs between the two. */
  private readonly store: BullMqStore;
  /** `Queue "emails" (bullmq)`, `Queue "emails" (bullmq on PostgreSQL)`: who the log lines are about. */
  private readonly subject: string;
  private readonly enqueueTimeoutMs: number;
  private readonly producer: ConnectionMonitor;
  /** The producer's `Queue`'s connection, once it exists. */
  private producerWatch?: ConnectionWatch;
  /** The current worker's connection(s). */
  private workerWatch?: ConnectionWatch;
  private readonly producerErrors: ErrorLogThrottle;
  private readonly workerErrors: ErrorLogThrottle;
  private workerMonitor?: ConnectionMonitor;
  /** Errors the connection monitors have seen (and reported) already. */
  private readonly seenErrors = new WeakSet<object>();
  /** Enqueues waiting for Redis, each bounded by `enqueueTimeoutMs`. */
  private readonly pending: PendingEnqueues;
  /** The handlers' signals, aborted at the shutdown deadline. */
  private readonly itemSignals = new ItemSignals();
  private bull?: BullMqModule;
  private queue?: Queue;
  /** Settles once the producer's `Queue` exists (or the backend stopped first): `this.queue` is set then, unless it stopped. */
  private readonly queueMade: Promise<void>;
  private resolveQueueMade!: () => void;
  /** Attempts to open the queue so far (its store unreachable at start: they go on with backoff). */
  private openAttempts = 0;
  private openTimer?: NodeJS.Timeout;
  /** The last reason the queue could not open that was logged (logged once per distinct reason). */
  private openRefusal?: string;
  private worker?: Worker;
  private workerSpec?: { process: JobProcessor<T>; policy: WorkerPolicy<T> };
  private workerStarted: Promise<void> = Promise.resolve();
  private workerClosing?: Promise<void>;
  /** The worker was stopped for spinning (a restart may be scheduled) or because its connection cannot be made. */
  private workerHalted = false;
  private restartTimer?: NodeJS.Timeout;
  private restartDelayMs = 0;
  private lastHaltAt = 0;
  private spinWindowStart = 0;
  private spinCount = 0;
  private disposing?: Promise<void>;
  private jobOptions?: JobsOptions;
  private intakeClosed = false;
  private stopping = false;
  private paused = false;
  private depth = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private countsTimer?: NodeJS.Timeout;
  private refreshing = false;
  /** Dead letters (the failed set) as last counted. */
  private failedCount = 0;
  /** The worker's removal options: finished jobs, failed jobs (dead letters). */
  private readonly keepCompleted?: KeepJobs;
  private readonly keepFailed?: KeepJobs;
  /** The deliveries running here, by job id (for `requestCancel`): one set and one delete per delivery. */
  private readonly running = new Map<string, JobContext>();
  /** Deliveries wait until then (epoch ms): a handler's `RateLimitedError`, or the limiter's window as Redis last said. */
  private limitedUntil = 0;
  /** Cancels of running jobs, heard by every process with a worker on the queue (opened with the worker). */
  private cancels?: CancelListener;
  /** The cancel listener first listened (or failed for good): the worker may take items. */
  private cancelsHeard = false;
  /** The queue's cluster-wide events, opened on the first `subscribe`. */
  private events?: BullMqQueueEvents;
  private eventsOpening?: Promise<void>;

  constructor(private readonly options: BullMqQueueBackendOptions) {
    this.name = options.queueName;
    this.logger = options.logger;
    const { prefix, lockDurationMs, stalledIntervalMs, enqueueTimeoutMs, telemetry, removeOnComplete } = options;
    validateBullMqBackendOptions(this.name, { type: 'bullmq', prefix, lockDurationMs, stalledIntervalMs, enqueueTimeoutMs, telemetry, removeOnComplete });
    this.keepCompleted = keepJobs(removeOnComplete, KEEP_COMPLETED);
    this.keepFailed = keepJobs(options.deadLetters === false ? true : options.deadLetters, KEEP_FAILED);
    this.store = storeOf(this.name, options);
    this.enqueueTimeoutMs = enqueueTimeoutMs ?? DEFAULT_ENQUEUE_TIMEOUT_MS;
    const subject = (this.subject = `Queue "${this.name}" (${this.store.label})`);
    this.producer = new ConnectionMonitor('producer', `${subject} producer`, this.logger, ['main'], this.store.outage);
    this.producerErrors = this.store.throttle(this.logger, `${subject} producer`);
    this.workerErrors = this.store.throttle(this.logger, `${subject} worker`);
    const { messages } = this.store;
    this.pending = new PendingEnqueues(this.enqueueTimeoutMs, () => {
      const state = this.producer.state;
      const cause = Object.assign(new Error(messages.enqueueTimedOut(this.enqueueTimeoutMs, state)), { code: 'ETIMEDOUT' });
      return new QueueUnavailableError(this.name, cause, messages.queueEnqueueTimedOut(this.name, this.enqueueTimeoutMs, state));
    });
    this.queueMade = new Promise((resolve) => (this.resolveQueueMade = resolve));
    this.ready = this.init();
    this.ready.catch(() => undefined); // surfaced by enqueue, startWorker and whoever awaits `ready`
  }

  /**
   * Adds a job. Rejects without a round trip when the item would not survive JSON (a `TypeError`
   * naming the path inside it; on PostgreSQL jsonb, and options its columns cannot hold), and with
   * `QueueUnavailableError` at once while the producer connection is down, or once
   * `enqueueTimeoutMs` passed without the store confirming it.
   * `options` (validated by `WorkQueue`) become BullMQ's own job options (`delay`, `priority`,
   * `jobId`, `deduplication`, `attempts`, `backoff`) and, for what BullMQ has no field for, the job's
   * metadata (item-metadata.ts). An `id` already taken resolves with that id and adds nothing.
   */
  enqueue(data: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>, itemOptions?: ItemOptions): Promise<string> {
    if (this.intakeClosed) return Promise.reject(new QueueClosedError(this.name));
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      this.store.checkItem(this.name, data, 'item');
      if (itemOptions !== undefined) this.store.checkItemOptions(this.name, itemOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.producer.isDown) return Promise.reject(this.unavailable(this.producer.lastError));
    // Headers ride in the job's `telemetry.metadata` (JSON), which BullMQ keeps with the job and
    // leaves alone with `omitContext` (its own telemetry, when given, would write its trace there).
    const options =
      itemOptions !== undefined
        ? this.itemJobOptions(headers, itemOptions)
        : headers === undefined
          ? this.jobOptions
          : { ...this.jobOptions, telemetry: { metadata: JSON.stringify(headers), omitContext: true } };
    const queue = this.queue;
    const added = queue ? queue.add(this.name, data, options) : this.madeQueue().then((made) => made.add(this.name, data, options));
    return this.bounded(added, signal, (job) => {
      this.depth++; // a duplicate id is counted once too many until the next refresh (within a second)
      return job.id!;
    });
  }

  /**
   * Adds `items` in one round trip (BullMQ's `addBulk`: one pipeline), each with `itemOptions` and,
   * when given, `ids[i]` as its id. Every item is checked for JSON first (the message names
   * `items[i]`); bounded by `enqueueTimeoutMs` as `enqueue` is. Resolves with the ids in order.
   */
  enqueueMany(
    items: readonly T[],
    itemOptions: ItemOptions | undefined,
    ids: readonly string[] | undefined,
    headers?: Readonly<Record<string, string>>,
  ): Promise<string[]> {
    if (this.intakeClosed) return Promise.reject(new QueueClosedError(this.name));
    try {
      for (let i = 0; i < items.length; i++) this.store.checkItem(this.name, items[i], `items[${i}]`);
      if (itemOptions !== undefined) this.store.checkItemOptions(this.name, itemOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    if (items.length === 0) return Promise.resolve([]);
    if (this.producer.isDown) return Promise.reject(this.unavailable(this.producer.lastError));
    const shared = this.itemJobOptions(headers, itemOptions ?? {});
    const jobs = items.map((data, i) => ({
      name: this.name,
      data,
      opts: ids === undefined ? shared : this.itemJobOptions(headers, { ...itemOptions, id: ids[i] }),
    }));
    return this.bounded(
      this.madeQueue().then((made) => made.addBulk(jobs)),
      undefined,
      (added) => {
        this.depth += added.length;
        return added.map((job) => job.id!);
      },
    );
  }

  /**
   * Cancels job `id`: one that has not started (waiting, delayed, prioritized) or waits out a retry
   * is removed (`'removed'`; `onCancelled` when this process has a worker); an active one is aborted
   * on whichever process runs it (`'aborted'`); any other (finished, a dead letter, unknown) is
   * `'not-found'`. Bounded by `enqueueTimeoutMs`.
   */
  async cancel(id: string): Promise<CancelResult> {
    const queue = await this.producerQueue();
    const state = await this.bounded(queue.getJobState(id));
    if (state === 'active') {
      await this.requestCancel(id);
      return 'aborted';
    }
    if (!CANCELLABLE_STATES.has(state)) return 'not-found';
    // 0: the job is locked, a worker took it in the meantime.
    if ((await this.bounded(this.store.removeKeepingIdTtl(queue, id))) === 0) {
      await this.requestCancel(id);
      return 'aborted';
    }
    if (this.depth > 0) this.depth--;
    try {
      this.workerSpec?.policy.onCancelled(id);
    } catch (hookError) {
      this.workerErrors.report(hookError); // the item is removed all the same
    }
    return 'removed';
  }

  /**
   * A page of the failed set, newest first, with its total. A job a cancel ended (its failedReason is
   * `CANCELLED_REASON`) is not a dead letter: it is left out, and removed.
   */
  async deadLetters(offset: number, limit: number): Promise<DeadLetterPage<T>> {
    const queue = await this.producerQueue();
    const [total, jobs] = await this.bounded(Promise.all([queue.getFailedCount(), limit > 0 ? queue.getFailed(offset, offset + limit - 1) : []]));
    const items: Array<DeadLetter<T>> = [];
    let cancelled = 0;
    for (const job of jobs) {
      if (this.isCancelled(job)) {
        cancelled++;
        queue.remove(job.id!).catch((error: unknown) => this.onProducerError(error));
        continue;
      }
      items.push(this.deadLetterOf(job));
    }
    this.failedCount = total - cancelled;
    return { total: total - cancelled, items };
  }

  /**
   * Puts dead letters back in the queue, attempts reset (BullMQ's `retry` of a failed job: same id,
   * data, options and metadata): `id`'s, or every one in the failed set as this call found it.
   * Resolves with how many went back.
   */
  async redrive(id?: string): Promise<number> {
    const queue = await this.producerQueue();
    const retry = async (job: Job | undefined): Promise<number> => {
      if (!job || this.isCancelled(job)) return 0;
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return 1;
      } catch (error) {
        // Not (or no longer) in the failed set: redriven or discarded by someone else meanwhile.
        if ((await queue.getJobState(job.id!)) !== 'failed') return 0;
        throw error;
      }
    };
    let moved = 0;
    if (id !== undefined) {
      if ((await this.bounded(queue.getJobState(id))) !== 'failed') return 0;
      moved = await this.bounded(queue.getJob(id).then((job) => retry(job as Job | undefined)));
    } else {
      // The failed set as it is now (ids, oldest last), then batch by batch: jobs that fail again meanwhile are not retried twice.
      const ids = (await this.bounded(queue.getRanges(['failed'], 0, -1))) as string[];
      for (let start = 0; start < ids.length; start += REDRIVE_BATCH) {
        const batch = await this.bounded(Promise.all(ids.slice(start, start + REDRIVE_BATCH).map((each) => queue.getJob(each))));
        const counts = await this.bounded(Promise.all(batch.map((job) => retry(job as Job | undefined))));
        moved += counts.reduce((sum, n) => sum + n, 0);
      }
    }
    this.failedCount = Math.max(0, this.failedCount - moved);
    this.depth += moved;
    return moved;
  }

  /** Deletes dead letters: `id`'s, or every one. Resolves with how many. */
  async discard(id?: string): Promise<number> {
    const queue = await this.producerQueue();
    let removed: number;
    if (id !== undefined) {
      if ((await this.bounded(queue.getJobState(id))) !== 'failed') return 0;
      removed = await this.bounded(this.store.removeKeepingIdTtl(queue, id));
    } else {
      removed = (await this.bounded(queue.clean(-DISCARD_CLOCK_MARGIN_MS, 0, 'failed'))).length;
    }
    this.failedCount = Math.max(0, this.failedCount - removed);
    return removed;
  }

  /** Dead letters as last counted (refreshed every second with the depth, and by `deadLetters`, `redrive`, `discard`). */
  deadLetterCount(): number {
    return this.failedCount;
  }

  /**
   * The queue's events from every process (bullmq-queue-events.ts says what each is in BullMQ's
   * terms), read by one BullMQ `QueueEvents` opened on the first subscription: one more Redis
   * connection (blocking) per process and queue, shown as `events` in `connections()`.
   */
  subscribe(listener: (event: QueueEvent) => void): () => void {
    const events = (this.events ??= new BullMqQueueEvents({
      queueName: this.name,
      ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
      store: this.store,
      logger: this.logger,
    }));
    const unsubscribe = events.subscribe(listener);
    this.eventsOpening ??= this.madeQueue().then(
      async (queue) => {
        if (this.disposing) return;
        // Events from now on: after the stream's last entry, asked at once on the producer's connection
        // (before any item enqueued after this call can have run). Without it, from the first read.
        const from = await this.store.lastEventId(queue).catch(() => undefined);
        if (!this.disposing) events.open(this.bull!, from);
      },
      () => undefined,
    );
    return unsubscribe;
  }

  /** `job.updateProgress(value)`, not awaited (its events and BullMQ's tools see it); a failure is logged at a bounded rate. */
  progress(context: JobContext, value: number | object): void {
    const job = context.handle as Job | undefined;
    job?.updateProgress(value).catch((error: unknown) => this.reportWorkerError(error));
  }

  /**
   * While tries may not start (a handler's `RateLimitedError`, or the limiter's window is full, as
   * the store said at the last refresh of the counts, every second while items wait): the instant they may.
   */
  rateLimitedUntil(): number | undefined {
    const until = this.limitedUntil;
    return until > Date.now() ? until : undefined;
  }

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    // Retries are recorded on jobs added here too, so that Redis (and dashboards) show the policy;
    // the worker applies it in any case, whoever added the job. One try is what a job without
    // options means to BullMQ: nothing to record, and no options to encode, store and decode per job.
    this.jobOptions =
      policy.attempts > 1 ? { attempts: policy.attempts, backoff: { type: policy.backoff.type, delay: policy.backoff.delayMs } } : undefined;
    this.workerSpec = { process, policy };
    // The worker's connection: BullMQ's command and blocking connections, and the subscriber that hears cancels.
    this.workerMonitor = new ConnectionMonitor('worker', `${this.subject} worker`, this.logger, this.store.workerParts, this.store.outage);
    this.workerStarted = this.madeQueue()
      .then(() => this.createWorker())
      .catch((error: unknown) => {
        if (!(error instanceof QueueClosedError)) this.workerNotStarted(error); // closed: stopped before the queue opened
      });
  }

  closeIntake(): void {
    this.intakeClosed = true;
  }

  async stop(deadline: AbortSignal): Promise<{ undelivered: number }> {
    this.closeIntake();
    this.stopping = true;
    clearTimeout(this.restartTimer);
    // An enqueue still waiting for a producer that is not up would wait out its timeout during the shutdown.
    if (!this.producer.isUp) this.failPending(() => this.unavailable(new Error(ENQUEUE_CANCELLED_AT_SHUTDOWN())));
    this.stopOpening();
    await this.workerStarted;
    const worker = this.worker;
    if (!worker) {
      this.stopCounts();
      return { undelivered: 0 }; // a producer-only process: what waits in Redis is not its to report
    }
    // No new deliveries (a job fetched in the meantime is handed straight back); running ones finish.
    if (!this.workerHalted) worker.pause(true).catch((error: unknown) => this.onWorkerError(worker, error));
    await this.whenIdle(deadline);
    if (this.inFlight > 0) {
      this.itemSignals.abortAll(new Error(QUEUE_DEADLINE_PASSED(this.name)));
      await this.whenIdle();
    }
    // Redis down (or never reached): a graceful close would wait for it (its QUIT queues up), so cut the connections.
    const cut = !this.workerMonitor!.isUp;
    this.workerMonitor!.close();
    this.workerClosing ??= worker.close(cut).catch((error: unknown) => this.onWorkerError(worker, error));
    await closeOrCut(worker, this.workerClosing, this.store.ownsWorker);
    this.stopCounts();
    return { undelivered: await this.countUndelivered() };
  }

  counts(): QueueCounts {
    return { depth: this.depth, inFlight: this.inFlight };
  }

  get storeName(): StoreName {
    return this.store.storeName;
  }

  /** `producer`, `worker` once a worker was started here, and `events` once `subscribe` opened them. */
  connections(): ConnectionStatus[] {
    const producer = this.producer.status();
    const connections = this.workerMonitor ? [producer, this.workerMonitor.status()] : [producer];
    const events = this.events?.status();
    if (events) connections.push(events);
    return connections;
  }

  pause(): void {
    this.paused = true;
    const worker = this.worker;
    if (worker && !this.workerHalted) worker.pause().catch((error: unknown) => this.onWorkerError(worker, error));
  }

  resume(): void {
    this.paused = false;
    const worker = this.worker;
    // Before the cancel listener listens, the worker has not run: `runWhenCancelsHeard` starts it.
    if (worker && !this.workerHalted && this.cancelsHeard) worker.resume().catch((error: unknown) => this.onWorkerError(worker, error));
  }

  /**
   * Closes the worker and the queue's connections. A worker that `stop` could not close (a handler
   * ignored the deadline) is closed by force: its job stays claimed until the claim lapses, then
   * BullMQ's stalled-job check gives it to another worker. Enqueues still pending reject with
   * `QueueClosedError`.
   */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      this.closeIntake();
      this.stopping = true;
      clearTimeout(this.restartTimer);
      this.stopCounts();
      this.failPending(() => new QueueClosedError(this.name));
      this.stopOpening();
      await this.workerStarted;
      const worker = this.worker;
      if (worker) {
        const force = this.inFlight > 0 || !this.workerMonitor!.isUp;
        this.workerMonitor!.close();
        this.workerClosing ??= worker.close(force).catch((error: unknown) => this.onWorkerError(worker, error));
        await closeOrCut(worker, this.workerClosing, this.store.ownsWorker);
      }
      this.cancels?.close();
      await this.events?.close();
      this.producer.close();
      if (this.queue) await closeOrCut(this.queue, this.queue.close(), this.store.ownsProducer);
      this.producerWatch?.close();
      this.workerWatch?.close();
      await this.store.dispose();
      this.producerErrors.dispose();
      this.workerErrors.dispose();
    })();
    return this.disposing;
  }

  /**
   * Loads bullmq, readies the store (PostgreSQL: its schema) and makes the producer's `Queue`. A
   * store that refuses (the role's rights, a schema of a newer bullmq, a missing package) fails the
   * start-up with the reason; one that cannot be reached yet lets it go on with the producer down,
   * and is tried again with backoff (`openLater`).
   */
  private async init(): Promise<void> {
    this.bull = await loadBullMq(undefined, this.store.storeName);
    if (this.disposing) return;
    try {
      await this.store.prepare(this.bull);
    } catch (error) {
      if (!this.store.isConnectionError(error)) {
        await this.store.dispose(); // start-up fails: nothing will dispose this backend
        throw error;
      }
      this.openLater(error);
      return;
    }
    this.openQueue();
    if (this.queue) await this.store.opened(this.queue);
  }

  /** Makes the producer's `Queue` (again, when the previous one never got ready). */
  private openQueue(): void {
    if (this.stopping || this.disposing) return;
    const bull = this.bull!;
    const queue = new (bull.Queue as unknown as QueueClass)(
      this.name,
      {
        connection: this.store.producerConnection,
        ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
        ...(this.options.telemetry !== undefined && { telemetry: this.options.telemetry as Telemetry }),
      } as QueueOptions,
      this.store.backendFactory(bull),
    );
    this.queue = queue;
    this.openAttempts = 0;
    this.producerWatch = this.store.watch(queue, 'producer', this.producer, {
      seen: this.seenErrors,
      current: () => this.queue === queue && !this.disposing,
      initFailed: (error, recoverable) => (recoverable ? this.producerNotReady(queue, error) : this.connectionFailed(this.producer, error)),
    });
    queue.on('error', (error: unknown) => {
      if (this.queue === queue) this.onProducerError(error);
    });
    clearInterval(this.countsTimer);
    this.countsTimer = setInterval(() => void this.refreshCounts(), COUNTS_REFRESH_MS);
    this.countsTimer.unref();
    void this.refreshCounts();
    this.resolveQueueMade();
  }

  /**
   * The store could not be readied (`error`): the producer is down (held down, with the reason logged
   * once, when the store answered and refused), and it tries again after a delay that doubles from
   * 250 ms to 5 s, for as long as the backend runs.
   */
  private openLater(error: unknown): void {
    if (this.stopping || this.disposing) return;
    const delayMs = Math.min(FIRST_OPEN_RETRY_MS * 2 ** this.openAttempts++, MAX_OPEN_RETRY_MS);
    if (this.store.isConnectionError(error)) {
      this.producer.partDown('main', error);
    } else {
      const reason = errorMessage(error);
      this.producer.hold(reason, error);
      if (this.openRefusal !== reason) {
        this.openRefusal = reason;
        this.logger.error(QUEUE_OPEN_RETRYING(this.subject, this.store.storeName, error, MAX_OPEN_RETRY_MS), stackOf(error));
      }
    }
    this.openTimer = setTimeout(() => void this.retryOpen(), delayMs);
  }

  private async retryOpen(): Promise<void> {
    this.openTimer = undefined;
    if (this.stopping || this.disposing) return;
    try {
      await this.store.prepare(this.bull!);
    } catch (error) {
      this.openLater(error);
      return;
    }
    if (this.openRefusal !== undefined) {
      this.openRefusal = undefined;
      this.producer.release();
    }
    this.openQueue();
  }

  /** The producer's `Queue` could not get ready (its store unreachable then), and BullMQ keeps that for good: a new one, later. */
  private producerNotReady(queue: Queue, error: unknown): void {
    if (this.queue !== queue || this.stopping || this.disposing) return;
    this.producerWatch?.close();
    this.producerWatch = undefined;
    this.stopCounts();
    void closeOrCut(queue, queue.close().catch(() => undefined), this.store.ownsProducer);
    this.openLater(error);
  }

  /** No more attempts to open the queue; whoever waits for it hears that it stopped (`madeQueue`). */
  private stopOpening(): void {
    clearTimeout(this.openTimer);
    this.openTimer = undefined;
    this.resolveQueueMade();
  }

  /** The producer's `Queue` once it exists; rejects with `QueueClosedError` when the backend stopped before it did. */
  private async madeQueue(): Promise<Queue> {
    await this.ready;
    await this.queueMade;
    if (!this.queue || this.disposing) throw new QueueClosedError(this.name);
    return this.queue;
  }

  /** `QueueUnavailableError` for `cause`, worded for the store. */
  private unavailable(cause: unknown): QueueUnavailableError {
    return new QueueUnavailableError(this.name, cause, this.store.messages.unavailable(this.name, cause));
  }

  /** A connection whose initialisation failed is dead for good: no retry can bring it back. */
  private connectionFailed(monitor: ConnectionMonitor, error: unknown): void {
    if (monitor.isClosed || this.stopping) return;
    if (typeof error === 'object' && error !== null) this.seenErrors.add(error);
    if (monitor === this.producer) {
      monitor.hold(errorMessage(error), error);
      this.logger.error(this.store.messages.connectionFailed(`${this.subject} producer`, error));
      this.stopCounts();
      this.failPending(() => this.unavailable(error));
      return;
    }
    if (this.workerHalted) return;
    this.logger.error(this.store.messages.connectionFailed(`${this.subject} worker`, error));
    this.haltWorker(errorMessage(error), error);
  }

  /** The worker's connection could not get ready (its store unreachable then), and BullMQ keeps that for good: a new worker, shortly. */
  private workerNotReady(worker: Worker, error: unknown): void {
    if (worker !== this.worker || this.stopping || this.workerHalted) return;
    this.workerMonitor?.partDown('main', error);
    this.haltWorker(errorMessage(error), error);
    this.restartTimer = setTimeout(() => void this.restartWorker(), WORKER_NOT_READY_RETRY_MS);
  }

  private createWorker(): void {
    if (this.stopping || !this.workerSpec) return; // the host stopped before bullmq was loaded
    const { process, policy } = this.workerSpec;
    const backoff = { type: policy.backoff.type, delay: policy.backoff.delayMs };
    const bull = this.bull!;
    const { WaitingError } = bull;
    this.store.workerStarting(this.queue!, policy.concurrency);
    const limiter = this.store.limiterOf(policy.limiter);
    const worker = new (bull.Worker as unknown as WorkerClass)(
      this.name,
      // Two parameters: BullMQ then creates no per-job AbortController (this backend makes one only when a handler reads ctx.signal).
      (job: Job, token?: string) => this.handle(job, token, process, policy, backoff),
      {
        connection: this.store.workerConnection,
        ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
        concurrency: policy.concurrency,
        // BullMQ merges its defaults with Object.assign: an explicit `undefined` would replace them.
        ...(this.options.lockDurationMs !== undefined && { lockDuration: this.options.lockDurationMs }),
        ...(this.options.stalledIntervalMs !== undefined && { stalledInterval: this.options.stalledIntervalMs }),
        ...(this.keepCompleted !== undefined && { removeOnComplete: this.keepCompleted }),
        ...(this.keepFailed !== undefined && { removeOnFail: this.keepFailed }),
        ...(this.options.telemetry !== undefined && { telemetry: this.options.telemetry as Telemetry }),
        // BullMQ's limiter (kept in the store: across every process of the queue).
        ...(limiter !== undefined && { limiter }),
        ...this.store.workerOptions,
        // No `name`: with one, BullMQ writes it into every job it fetches (a `processedBy` field: a
        // larger HMSET per job, and a larger reply to decode), which raw BullMQ workers do not pay.
        // Started by `runWhenCancelsHeard` once this process hears cancels (and not paused through HostingRegistry).
        autorun: false,
      } as WorkerOptions,
      this.store.backendFactory(bull),
    );
    this.worker = worker;
    this.spinWindowStart = Date.now();
    this.spinCount = 0;
    this.workerWatch = this.store.watch(worker, 'worker', this.workerMonitor!, {
      seen: this.seenErrors,
      current: () => worker === this.worker,
      initFailed: (error, recoverable) => (recoverable ? this.workerNotReady(worker, error) : this.connectionFailed(this.workerMonitor!, error)),
    });
    worker.on('error', (error: unknown) => this.onWorkerError(worker, error));
    worker.on('failed', (job, error) => {
      if (!job || error instanceof WaitingError || error?.name === 'WaitingError' || error?.message === CANCELLED_REASON) return;
      // `handle` left the job's effective attempts in its options (the item's own, or the policy's);
      // BullMQ does not retry an UnrecoverableError (nor a job that stalled too often).
      if (job.attemptsMade >= Math.max(job.opts.attempts ?? 1, 1) || error?.name === 'UnrecoverableError')
        policy.onFailed(job.data as T, new JobContext(this.name, job.id!, job.attemptsMade, this.itemSignals), error);
      else this.publishRetry(job, error);
    });
    this.listenForCancels(this.queue!);
    this.runWhenCancelsHeard(worker);
  }

  /**
   * Runs `worker` once the cancel listener listens: an item it took before could be cancelled by
   * another process while no one here hears the channel, and the cancel would be lost (pub/sub and
   * NOTIFY keep no backlog). At once for a restarted worker (the listener stays).
   */
  private runWhenCancelsHeard(worker: Worker): void {
    const run = () => {
      this.cancelsHeard = true;
      if (worker !== this.worker || this.stopping || this.paused || this.workerHalted) return; // resume or a restart runs it
      worker.resume().catch((error: unknown) => this.onWorkerError(worker, error)); // not running yet: BullMQ's resume runs it
    };
    if (this.cancelsHeard) run();
    else void this.cancels!.listening.then(run);
  }

  /**
   * Tells the queue's event subscribers (on every process) that a try failed and will be retried:
   * BullMQ's own stream does not say so (one XADD on the producer's connection per retried failure).
   */
  private publishRetry(job: Job, error: unknown): void {
    const fields = { event: RETRY_EVENT, jobId: job.id!, attempt: job.attemptsMade, error: errorMessage(error) };
    this.queue?.getBackend().publishEvent(fields, EVENT_STREAM_MAX_LEN).catch((failure: unknown) => this.onProducerError(failure));
  }

  /** Starts hearing the queue's cancels, once per backend (a restarted worker keeps the listener). */
  private listenForCancels(queue: Queue): void {
    const monitor = this.workerMonitor!;
    if (this.cancels) {
      if (this.cancels.isReady) monitor.partUp('cancel');
      return;
    }
    const onCancel = (id: string) => this.running.get(id)?.abort(new QueueItemCancelledError(this.name, id));
    this.cancels = this.store.listenForCancels(queue, onCancel, monitor, 'cancel', this.seenErrors, (error) => this.reportWorkerError(error));
  }

  private reportWorkerError(error: unknown): void {
    if (typeof error === 'object' && error !== null && this.seenErrors.has(error)) return;
    if (this.workerWatch?.failed(error)) return; // an outage: the monitor says so, once
    if (this.store.isConnectionError(error) && !this.workerMonitor?.isUp) return;
    this.workerErrors.report(error);
  }

  /**
   * Aborts the running job `id` with `QueueItemCancelledError`: here when it runs here, else on
   * whichever process runs it, through the queue's cancel channel (Redis pub/sub, PostgreSQL NOTIFY).
   */
  private async requestCancel(id: string): Promise<void> {
    const local = this.running.get(id);
    if (local) {
      local.abort(new QueueItemCancelledError(this.name, id));
      return;
    }
    await this.store.publishCancel(await this.madeQueue(), id);
  }

  private workerNotStarted(error: unknown): void {
    this.logger.error(WORKER_NOT_STARTED(this.name), stackOf(error));
    this.workerMonitor?.hold(errorMessage(error), error);
  }

  /**
   * One delivery: the pipeline above decides ack (resolve) or nack (reject); BullMQ retries per the
   * policy. Not an async function: a handler that finished synchronously costs no promise here (one
   * resolved promise serves them all), and an asynchronous one only the reactions on its own promise.
   */
  private handle(
    job: Job,
    token: string | undefined,
    process: JobProcessor<T>,
    policy: WorkerPolicy<T>,
    backoff: { type: 'fixed' | 'exponential'; delay: number },
  ): Promise<void> {
    // Paused (HostingRegistry.pause) or stopping: a job BullMQ fetched before the worker paused goes back, unstarted.
    if (this.stopping || this.paused) return this.handBack(job, token);
    this.inFlight++;
    if (this.depth > 0) this.depth--;
    const context = new JobContext(this.name, job.id!, job.attemptsMade + 1, this.itemSignals);
    const metadata = job.opts.telemetry?.metadata;
    if (metadata !== undefined) {
      context.carried = metadata;
      // The item's own attempts / backoff / timeoutMs (item-metadata.ts); a `startsWith` for jobs without.
      context.itemOptions = decodeItemOptions(metadata);
    }
    context.handle = job;
    this.running.set(job.id!, context);
    // BullMQ decides retries from the job's own options: the item's own attempts / backoff win, else
    // the worker's policy wins over what a producer recorded. A job that says one try (or none:
    // BullMQ's 0) under a one-try policy is left as it is: no retry either way.
    const own = context.itemOptions;
    if (own !== undefined && (own.attempts !== undefined || own.backoff !== undefined)) {
      job.opts.attempts = own.attempts ?? policy.attempts;
      job.opts.backoff = own.backoff ? { type: own.backoff.type, delay: own.backoff.delayMs } : backoff;
    } else if (policy.attempts > 1 || (job.opts.attempts ?? 0) > 1) {
      job.opts.attempts = policy.attempts;
      job.opts.backoff = backoff;
    }
    let result: unknown;
    try {
      result = process(job.data as T, context);
    } catch (thrown) {
      return this.nacked(job, token, policy, context, thrown);
    }
    if (!isPending(result)) return this.acked(job, token, policy, context);
    // No timer at all unless the item or the worker sets a timeout.
    const timeoutMs = own?.timeoutMs ?? policy.timeoutMs;
    if (timeoutMs !== undefined) return this.timed(job, token, policy, context, result, timeoutMs);
    return Promise.resolve(result).then(
      () => this.acked(job, token, policy, context),
      (thrown: unknown) => this.nacked(job, token, policy, context, thrown),
    );
  }

  /**
   * A try with a timeout: at `timeoutMs` its signal aborts with `QueueItemTimeoutError` and the try
   * fails with it at once (BullMQ retries it or moves it to the failed set, and the worker's slot is
   * free); what the handler does later is ignored. The timer goes when the handler settles first.
   */
  private timed(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext, result: PromiseLike<unknown>, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const error = new QueueItemTimeoutError(this.name, context.id, timeoutMs);
        context.abort(error);
        this.nacked(job, token, policy, context, error).then(resolve, reject);
      }, timeoutMs);
      Promise.resolve(result).then(
        () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.acked(job, token, policy, context).then(resolve, reject);
        },
        (thrown: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.nacked(job, token, policy, context, thrown).then(resolve, reject);
        },
      );
    });
  }

  /** The handler returned or resolved (a cancelled item whose handler returned normally completed). */
  private acked(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext): Promise<void> {
    try {
      policy.onAck(context);
    } catch (thrown) {
      return this.nacked(job, token, policy, context, thrown);
    }
    this.delivered(context);
    return DONE;
  }

  /**
   * The handler threw or rejected: BullMQ gets an Error (it fails the try); a cancelled try ends as
   * cancelled, a `RateLimitedError` puts the job back; the job goes back too when the shutdown
   * deadline cut it off.
   */
  private nacked(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext, thrown: unknown): Promise<never> {
    const abortedWith = context.aborted ? (context.signal.reason as unknown) : undefined;
    if (abortedWith instanceof QueueItemCancelledError) return this.cancelled(job, policy, context);
    const retryAfter = retryAfterOf(thrown, this.name, context.id);
    if (typeof retryAfter === 'number') return this.rateLimited(job, token, policy, context, retryAfter);
    // BullMQ reads `.message` of what it gets: `throw undefined` would leave the job active with its
    // lock held, a string would become a null failedReason. It gets an Error, always.
    const error = toError(retryAfter ?? thrown);
    try {
      policy.onNack(context, error);
    } catch (hookError) {
      this.delivered(context);
      return Promise.reject(hookError as Error);
    }
    if (abortedWith === undefined || abortedWith instanceof QueueItemTimeoutError || !this.itemSignals.aborted) {
      this.delivered(context);
      return Promise.reject(error);
    }
    // Cut off by the shutdown deadline: back to the queue, and the try does not count.
    return this.handBack(job, token).finally(() => this.delivered(context));
  }

  /**
   * A cancelled try threw: not retried (BullMQ's UnrecoverableError) and removed as it fails (no dead
   * letter; its id is free again).
   */
  private cancelled(job: Job, policy: WorkerPolicy<T>, context: JobContext): Promise<never> {
    job.opts.removeOnFail = true;
    try {
      policy.onCancelled(context.id, context);
    } catch (hookError) {
      this.workerErrors.report(hookError);
    }
    this.delivered(context);
    return Promise.reject(new this.bull!.UnrecoverableError(CANCELLED_REASON));
  }

  /**
   * The handler threw `RateLimitedError`: every worker of the queue stops taking jobs for
   * `retryAfterMs` (BullMQ's `Queue.rateLimit`, in the store: `BullMqStore.pauseAll`), and BullMQ puts
   * the job back in wait with its tries unchanged (`Worker.RateLimitError`).
   */
  private async rateLimited(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext, retryAfterMs: number): Promise<never> {
    try {
      await this.store.pauseAll(this.queue!, retryAfterMs, policy.limiter !== undefined);
    } catch (error) {
      this.onProducerError(error);
    }
    try {
      await this.store.handBackLimited(job, token);
    } catch (error) {
      this.reportWorkerError(error);
    }
    const until = Date.now() + retryAfterMs;
    this.limitedUntil = Math.max(this.limitedUntil, until);
    try {
      policy.onRateLimited(context, until);
    } catch (hookError) {
      this.workerErrors.report(hookError);
    }
    this.delivered(context);
    throw this.bull!.Worker.RateLimitError();
  }

  /** A delivery ended. */
  private delivered(context: JobContext): void {
    context.release();
    const id = context.id;
    if (this.running.get(id) === context) this.running.delete(id);
    this.inFlight--;
    if (this.inFlight === 0) this.notifyIdle();
  }

  /** Returns an active job to the front of the queue; BullMQ's `WaitingError` tells the worker it was moved. */
  private async handBack(job: Job, token: string | undefined): Promise<never> {
    await this.store.handBack(job, token);
    throw new this.bull!.WaitingError();
  }

  private onProducerError(error: unknown): void {
    if (typeof error === 'object' && error !== null && this.seenErrors.has(error)) return; // reported by the monitor
    if (this.producerWatch?.failed(error)) return; // an outage starts: the monitor says so, once
    if (this.store.isConnectionError(error) && !this.producer.isUp) return; // part of an outage already reported
    this.producerErrors.report(error);
  }

  /**
   * Errors of a worker: counted (a worker that reports errors faster than any retry delay allows
   * is spinning, and is stopped), and logged at a bounded rate unless the connection monitor has
   * reported them already.
   */
  private onWorkerError(worker: Worker, error: unknown): void {
    if (worker !== this.worker) return; // a previous worker's last words
    if (!this.stopping && !this.workerHalted) {
      const now = Date.now();
      if (now - this.spinWindowStart > SPIN_WINDOW_MS) {
        this.spinWindowStart = now;
        this.spinCount = 0;
      }
      const limit = Math.max(SPIN_MIN_ERRORS, 2 * (this.workerSpec?.policy.concurrency ?? 1));
      if (++this.spinCount >= limit) {
        this.workerSpinning(this.spinCount, error);
        return;
      }
    }
    if (this.workerHalted) return;
    if (typeof error === 'object' && error !== null && this.seenErrors.has(error)) return;
    if (this.workerWatch?.failed(error)) return;
    if (this.store.isConnectionError(error) && !this.workerMonitor?.isUp) return;
    this.workerErrors.report(error);
  }

  private workerSpinning(count: number, error: unknown): void {
    const now = Date.now();
    this.restartDelayMs =
      this.restartDelayMs === 0 || now - this.lastHaltAt > RESTART_BACKOFF_RESET_MS
        ? FIRST_RESTART_DELAY_MS
        : Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    this.lastHaltAt = now;
    const restartAt = new Date(now + this.restartDelayMs);
    this.logger.error(this.store.messages.workerSpinning(this.name, count, SPIN_WINDOW_MS, error, this.restartDelayMs), stackOf(error));
    this.haltWorker(WORKER_SPINNING_STATUS(count, error, restartAt), error);
    this.restartTimer = setTimeout(() => void this.restartWorker(), this.restartDelayMs);
  }

  /** Stops the worker at once (a job it was running comes back through BullMQ's stalled-job check) and marks it down. */
  private haltWorker(reason: string, error: unknown): void {
    const worker = this.worker;
    this.workerHalted = true;
    this.workerMonitor?.hold(reason, error);
    this.workerWatch?.close();
    this.workerWatch = undefined;
    if (!worker) return;
    // `close` stops BullMQ's fetch loop before its next turn; the connections are cut, not quit.
    this.workerClosing = closeOrCut(worker, worker.close(true).catch(() => undefined), this.store.ownsWorker);
  }

  private async restartWorker(): Promise<void> {
    this.restartTimer = undefined;
    await this.workerClosing;
    if (this.stopping) return;
    this.workerClosing = undefined;
    this.workerHalted = false;
    this.workerMonitor?.release();
    try {
      this.createWorker();
      this.logger.log(WORKER_RESTARTED(this.name));
    } catch (error) {
      this.workerNotStarted(error);
    }
  }

  /**
   * BullMQ job options of an item enqueued with `options`: the policy's attempts/backoff recorded
   * as for any job, then the item's own. A job with an `id` is removed as it completes (the id is
   * free again); with `idTtlMs` BullMQ's deduplication key holds the id that long from now, even
   * once the job is gone. Every add with an id passes BullMQ's deduplication (without `ttl` its key
   * lives as long as the job), since only such an add looks at a key an earlier `idTtlMs` left. The item's attempts/backoff/timeoutMs also ride in the metadata, which is
   * how the worker tells them from a policy's (item-metadata.ts).
   */
  private itemJobOptions(headers: Readonly<Record<string, string>> | undefined, options: ItemOptions): JobsOptions | undefined {
    const { delayMs, priority, id, idTtlMs, attempts, backoff } = options;
    const metadata = encodeMetadata(headers, carriedItemOptions(options));
    if (delayMs === undefined && priority === undefined && id === undefined && attempts === undefined && backoff === undefined && metadata === undefined)
      return this.jobOptions;
    return {
      ...this.jobOptions,
      ...(delayMs !== undefined && { delay: delayMs }),
      ...(priority !== undefined && { priority }),
      ...(id !== undefined && { jobId: id, removeOnComplete: true }),
      ...(id !== undefined && { deduplication: idTtlMs !== undefined ? { id, ttl: idTtlMs } : { id } }),
      ...(attempts !== undefined && { attempts }),
      ...(backoff !== undefined && { backoff: { type: backoff.type, delay: backoff.delayMs } }),
      ...(metadata !== undefined && { telemetry: { metadata, omitContext: true } }),
    };
  }

  /** The producer's Queue once it exists; rejects at once while its connection is down. */
  private async producerQueue(): Promise<Queue> {
    await this.ready;
    if (this.producer.isDown) throw this.unavailable(this.producer.lastError);
    return this.madeQueue();
  }

  /**
   * A call on the store (an add, a batch, `cancel`'s and the dead-letter methods' calls) bounded by
   * `enqueueTimeoutMs` and cancelled by `signal` (`PendingEnqueues`): resolves with `accept(value)`
   * (the value itself without it) unless the wait ended first; a connection error, or any error while
   * the producer is down, becomes `QueueUnavailableError`.
   */
  private bounded<R, V = R>(call: Promise<R>, signal?: AbortSignal, accept?: (value: R) => V): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const entry = this.pending.add(reject, signal);
      call.then(
        (value) => {
          if (this.pending.settle(entry)) resolve(accept ? accept(value) : (value as unknown as V));
        },
        (error: unknown) => {
          this.producerWatch?.failed(error); // PostgreSQL: an outage starts
          this.pending.fail(entry, this.store.isConnectionError(error) || this.producer.isDown ? this.unavailable(error) : error);
        },
      );
    });
  }

  /**
   * A failed job that a cancel ended, not a dead letter: the worker fails it with `CANCELLED_REASON`
   * and removes it at once (`removeOnFail: true`); one a crash left in between is skipped here.
   */
  private isCancelled(job: Job): boolean {
    return job.failedReason === CANCELLED_REASON;
  }

  private deadLetterOf(job: Job): DeadLetter<T> {
    const stack = job.stacktrace?.[job.stacktrace.length - 1] ?? undefined;
    const name = typeof stack === 'string' ? /^([A-Za-z_$][\w$]*):/.exec(stack)?.[1] : undefined;
    return {
      id: job.id!,
      data: job.data as T,
      error: { name: name ?? 'Error', message: job.failedReason ?? '', ...(typeof stack === 'string' && { stack }) },
      attempts: job.attemptsMade,
      failedAt: new Date(job.finishedOn ?? job.processedOn ?? job.timestamp),
    };
  }

  /** Rejects every enqueue still waiting for Redis. */
  private failPending(error: () => unknown): void {
    this.pending.failAll(error);
  }

  private whenIdle(deadline?: AbortSignal): Promise<void> {
    if (this.inFlight === 0 || deadline?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        deadline?.removeEventListener('abort', done);
        resolve();
      };
      this.idleWaiters.push(done);
      deadline?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * `WorkQueue.drain`: polls Redis (every 50 ms, on the system clock: the jobs' own timing is
   * Redis's) until no job of this queue waits or runs (nor, with `retries`, waits out a backoff)
   * and none is in flight here. Undefined when no worker runs here to settle them.
   */
  whenSettled(retries: boolean): Promise<void> | undefined {
    if (!this.workerSpec) return undefined;
    const states = retries ? (['wait', 'active', 'prioritized', 'delayed'] as const) : (['wait', 'active', 'prioritized'] as const);
    return (async () => {
      const queue = await this.madeQueue();
      for (;;) {
        const counts = await queue.getJobCounts(...states);
        if (this.inFlight === 0 && Object.values(counts).every((n) => n === 0)) return;
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
    })();
  }

  private notifyIdle(): void {
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }

  private async refreshCounts(): Promise<void> {
    // Only on a live connection: while it is down every refresh would fail (and pile up).
    if (this.refreshing || !this.queue || !this.producer.isUp) return;
    this.refreshing = true;
    try {
      const counts = await this.queue.getJobCounts(...COUNTED_STATES);
      this.producerWatch?.succeeded();
      this.depth = UNDELIVERED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
      this.failedCount = counts.failed ?? 0;
      // With a worker here and items waiting, the rate limit too (one more script call): a window with
      // nothing waiting holds nothing back, and an idle queue costs one call a second, not two. A
      // window read before stays until it passes.
      const policy = this.workerSpec?.policy;
      if (policy && this.depth > 0 && this.queue) {
        const limitTtl = await this.queue.getRateLimitTtl(policy.limiter?.max ?? this.store.unlimitedMax);
        this.limitedUntil = limitTtl > 0 ? Date.now() + limitTtl : 0;
      }
    } catch (error) {
      this.onProducerError(error);
    } finally {
      this.refreshing = false;
    }
  }

  private stopCounts(): void {
    clearInterval(this.countsTimer);
    this.countsTimer = undefined;
  }

  private async countUndelivered(): Promise<number> {
    if (!this.queue || !this.producer.isUp) return this.depth;
    const counted = this.queue.getJobCounts(...UNDELIVERED_STATES);
    const counts = await raceAbort(counted, AbortSignal.timeout(FINAL_COUNT_TIMEOUT_MS)).catch(() => undefined);
    return counts ? UNDELIVERED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0) : this.depth;
  }
}
