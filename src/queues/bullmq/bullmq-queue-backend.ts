import type { LoggerService } from '@nestjs/common';
import type { Job, JobsOptions, Queue, Telemetry, Worker } from 'bullmq';
import { ConnectionMonitor, watchRedisEvents, type RedisEventSource } from '../../distributed/connection-monitor.js';
import { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import { loadBullMq, type BullMqModule } from '../../distributed/load-optional.js';
import { assertRedisConnection } from '../../distributed/redis-connection.js';
import { isRedisConnectionError } from '../../distributed/redis-outage-reporter.js';
import {
  ENQUEUE_CANCELLED_AT_SHUTDOWN,
  ENQUEUE_TIMED_OUT,
  QUEUE_ENQUEUE_TIMED_OUT,
  REDIS_CONNECTION_FAILED,
  WORKER_NOT_STARTED,
  WORKER_RESTARTED,
  WORKER_SPINNING,
  WORKER_SPINNING_STATUS,
} from '../../distributed/redis.messages.js';
import { errorMessage, toError } from '../../errors/thrown-value.js';
import { QUEUE_DEADLINE_PASSED, stackOf } from '../../hosting.messages.js';
import type { ConnectionOptions } from '../../interfaces/redis-connection.interface.js';
import type { ConnectionStatus } from '../../interfaces/service-status.interface.js';
import type { BullMqTelemetry } from '../../interfaces/queue-options.interface.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { ItemSignals } from '../item-signals.js';
import { JobContext } from '../job-context.js';
import type { CancelResult, DeadLetterPage } from '../../interfaces/queue-options.interface.js';
import { isPending, type JobProcessor, type QueueBackend, type QueueCounts, type WorkerPolicy } from '../queue-backend.interface.js';
import { closeOrCut, raceAbort } from './bounded-waits.js';
import { bullMqConnections, type BullMqConnections } from './bullmq-connections.js';
import { DEFAULT_ENQUEUE_TIMEOUT_MS, queueConnectionOwner, validateBullMqBackendOptions } from './bullmq-options.validation.js';
import { assertJsonPayload } from './json-payload.js';
import { PendingEnqueues } from './pending-enqueues.js';
import { QueueUnavailableError } from './queue-unavailable.error.js';

/** Options of the BullMQ backend of one queue. */
export interface BullMqQueueBackendOptions {
  /** The queue's name (BullMQ's queue name). */
  queueName: string;
  /** Redis: a `redis://` URL, ioredis options, or an ioredis instance (shared, left open). */
  connection: ConnectionOptions;
  /**
   * Who gave `connection`, as the start-up error names it.
   * @default `HostingModule.registerQueue("<name>"): option "backend.connection"`
   */
  connectionOwner?: string;
  /** Prefix of BullMQ's Redis keys. @default 'bull' */
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
}

/** How often cached counts are refreshed from Redis (one round trip). */
const COUNTS_REFRESH_MS = 1_000;
/** How often `drain()` asks Redis whether the queue has settled. */
const DRAIN_POLL_MS = 50;
/** Longest wait for the final count of undelivered jobs at shutdown. */
const FINAL_COUNT_TIMEOUT_MS = 2_000;
/** Jobs kept in Redis after they finish (BullMQ keeps every one by default). */
const KEEP_COMPLETED = { count: 1_000 };
const KEEP_FAILED = { count: 10_000 };
const UNDELIVERED_STATES = ['wait', 'prioritized', 'delayed'] as const;
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

/** BullMQ's `RedisConnection` as far as this backend watches it. */
interface BullRedisConnection extends RedisEventSource {
  /** Settles once the connection is initialised; rejects for good when it cannot be made. */
  client: Promise<unknown>;
  _client?: { status?: string };
}

/**
 * The durable backend: a BullMQ `Queue` for `enqueue` and a BullMQ `Worker` for delivery, so
 * retries, delays, crash recovery (stalled jobs) and several processes on one queue are
 * BullMQ's own. bullmq is loaded on first use, never by apps that do not use this backend.
 *
 * Each connection has its own state and outage log (`producer`: the `Queue`; `worker`: the
 * `Worker`'s command and blocking connections together), reported by `connections()`.
 */
export class BullMqQueueBackend<T> implements QueueBackend<T> {
  /** Settles once bullmq is loaded and the producer exists; rejects with install guidance when bullmq is missing. */
  readonly ready: Promise<void>;
  private readonly name: string;
  private readonly logger: LoggerService;
  private readonly clients: BullMqConnections;
  private readonly enqueueTimeoutMs: number;
  private readonly producer: ConnectionMonitor;
  private readonly producerErrors: ErrorLogThrottle;
  private readonly workerErrors: ErrorLogThrottle;
  private workerMonitor?: ConnectionMonitor;
  /** Errors the connection monitors have seen (and reported) already. */
  private readonly seenErrors = new WeakSet<object>();
  private readonly unwatchers: Array<() => void> = [];
  /** The listeners on the current worker's connections, removed when it is stopped. */
  private workerUnwatchers: Array<() => void> = [];
  /** Enqueues waiting for Redis, each bounded by `enqueueTimeoutMs`. */
  private readonly pending: PendingEnqueues;
  /** The handlers' signals, aborted at the shutdown deadline. */
  private readonly itemSignals = new ItemSignals();
  private bull?: BullMqModule;
  private queue?: Queue;
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

  constructor(private readonly options: BullMqQueueBackendOptions) {
    this.name = options.queueName;
    this.logger = options.logger;
    const { prefix, lockDurationMs, stalledIntervalMs, enqueueTimeoutMs, telemetry } = options;
    validateBullMqBackendOptions(this.name, { type: 'bullmq', prefix, lockDurationMs, stalledIntervalMs, enqueueTimeoutMs, telemetry });
    const owner = options.connectionOwner ?? queueConnectionOwner(this.name);
    assertRedisConnection(owner, options.connection);
    this.enqueueTimeoutMs = enqueueTimeoutMs ?? DEFAULT_ENQUEUE_TIMEOUT_MS;
    this.clients = bullMqConnections(owner, options.connection);
    const subject = `Queue "${this.name}" (bullmq)`;
    this.producer = new ConnectionMonitor('producer', `${subject} producer`, this.logger);
    this.producerErrors = new ErrorLogThrottle(this.logger, `${subject} producer`);
    this.workerErrors = new ErrorLogThrottle(this.logger, `${subject} worker`);
    this.pending = new PendingEnqueues(this.enqueueTimeoutMs, () => {
      const state = this.producer.state;
      const cause = Object.assign(new Error(ENQUEUE_TIMED_OUT(this.enqueueTimeoutMs, state)), { code: 'ETIMEDOUT' });
      return new QueueUnavailableError(this.name, cause, QUEUE_ENQUEUE_TIMED_OUT(this.name, this.enqueueTimeoutMs, state));
    });
    this.ready = this.init();
    this.ready.catch(() => undefined); // surfaced by enqueue, startWorker and whoever awaits `ready`
  }

  /**
   * Adds a job. Rejects without a Redis round trip when the item would not survive JSON (a
   * `TypeError` naming the path inside it), and with `QueueUnavailableError` at once while the
   * producer connection is down, or once `enqueueTimeoutMs` passed without Redis confirming it.
   */
  enqueue(data: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<string> {
    if (this.intakeClosed) return Promise.reject(new QueueClosedError(this.name));
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      assertJsonPayload(this.name, data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.producer.isDown) return Promise.reject(new QueueUnavailableError(this.name, this.producer.lastError));
    // Headers ride in the job's `telemetry.metadata` (JSON), which BullMQ keeps with the job and
    // leaves alone with `omitContext` (its own telemetry, when given, would write its trace there).
    const options = headers === undefined ? this.jobOptions : { ...this.jobOptions, telemetry: { metadata: JSON.stringify(headers), omitContext: true } };
    return new Promise<string>((resolve, reject) => {
      const entry = this.pending.add(reject, signal);
      const queue = this.queue;
      (queue ? queue.add(this.name, data, options) : this.ready.then(() => this.queue!.add(this.name, data, options))).then(
        (job) => {
          if (!this.pending.settle(entry)) return;
          this.depth++;
          resolve(job.id!);
        },
        (error: unknown) =>
          this.pending.fail(entry, isRedisConnectionError(error) || this.producer.isDown ? new QueueUnavailableError(this.name, error) : error),
      );
    });
  }

  // H2a-TEMP: contract placeholders, replaced by the implementation
  enqueueMany(): Promise<string[]> { return Promise.reject(new Error('H2a-TEMP')); }
  cancel(): Promise<CancelResult> { return Promise.reject(new Error('H2a-TEMP')); }
  deadLetters(): Promise<DeadLetterPage<T>> { return Promise.reject(new Error('H2a-TEMP')); }
  redrive(): Promise<number> { return Promise.reject(new Error('H2a-TEMP')); }
  discard(): Promise<number> { return Promise.reject(new Error('H2a-TEMP')); }
  deadLetterCount(): number { return 0; }
  // H2a-TEMP end

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    // Retries are recorded on jobs added here too, so that Redis (and dashboards) show the policy;
    // the worker applies it in any case, whoever added the job. One try is what a job without
    // options means to BullMQ: nothing to record, and no options to encode, store and decode per job.
    this.jobOptions =
      policy.attempts > 1 ? { attempts: policy.attempts, backoff: { type: policy.backoff.type, delay: policy.backoff.delayMs } } : undefined;
    this.workerSpec = { process, policy };
    this.workerMonitor = new ConnectionMonitor('worker', `Queue "${this.name}" (bullmq) worker`, this.logger, ['main', 'blocking']);
    this.workerStarted = this.ready.then(() => this.createWorker()).catch((error: unknown) => this.workerNotStarted(error));
  }

  closeIntake(): void {
    this.intakeClosed = true;
  }

  async stop(deadline: AbortSignal): Promise<{ undelivered: number }> {
    this.closeIntake();
    this.stopping = true;
    clearTimeout(this.restartTimer);
    // An enqueue still waiting for a producer that is not up would wait out its timeout during the shutdown.
    if (!this.producer.isUp) this.failPending(() => new QueueUnavailableError(this.name, new Error(ENQUEUE_CANCELLED_AT_SHUTDOWN())));
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
    await closeOrCut(worker, this.workerClosing, this.clients.ownsWorker);
    this.stopCounts();
    return { undelivered: await this.countUndelivered() };
  }

  counts(): QueueCounts {
    return { depth: this.depth, inFlight: this.inFlight };
  }

  /** `producer`, and `worker` once a worker was started here. */
  connections(): ConnectionStatus[] {
    const producer = this.producer.status();
    return this.workerMonitor ? [producer, this.workerMonitor.status()] : [producer];
  }

  pause(): void {
    this.paused = true;
    const worker = this.worker;
    if (worker && !this.workerHalted) worker.pause().catch((error: unknown) => this.onWorkerError(worker, error));
  }

  resume(): void {
    this.paused = false;
    const worker = this.worker;
    if (worker && !this.workerHalted) worker.resume().catch((error: unknown) => this.onWorkerError(worker, error));
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
      await this.workerStarted;
      const worker = this.worker;
      if (worker) {
        const force = this.inFlight > 0 || !this.workerMonitor!.isUp;
        this.workerMonitor!.close();
        this.workerClosing ??= worker.close(force).catch((error: unknown) => this.onWorkerError(worker, error));
        await closeOrCut(worker, this.workerClosing, this.clients.ownsWorker);
      }
      this.producer.close();
      if (this.queue) await closeOrCut(this.queue, this.queue.close(), this.clients.ownsProducer);
      for (const unwatch of [...this.unwatchers.splice(0), ...this.workerUnwatchers.splice(0)]) unwatch();
      this.producerErrors.dispose();
      this.workerErrors.dispose();
    })();
    return this.disposing;
  }

  private async init(): Promise<void> {
    this.bull = await loadBullMq();
    if (this.disposing) return;
    const queue = new this.bull.Queue(this.name, {
      connection: this.clients.producer,
      ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
      ...(this.options.telemetry !== undefined && { telemetry: this.options.telemetry as Telemetry }),
    });
    this.queue = queue;
    this.watch(queue.getBackend(), 'connection', this.producer, 'main');
    queue.on('error', (error: unknown) => this.onProducerError(error));
    this.countsTimer = setInterval(() => void this.refreshCounts(), COUNTS_REFRESH_MS);
    this.countsTimer.unref();
    void this.refreshCounts();
  }

  /**
   * Feeds `monitor` from one of BullMQ's connections (`backend[field]`): its events, and the
   * outcome of its initialisation, which fails for good when the client cannot be made (options
   * ioredis refuses, a Redis version BullMQ refuses). A BullMQ without that field leaves the part up.
   * `worker`: the worker whose connection it is; what a stopped worker's connections say no longer counts.
   */
  private watch(backend: unknown, field: 'connection' | 'blockingConnection', monitor: ConnectionMonitor, part: string, worker?: Worker): void {
    const connection = (backend as Record<string, unknown> | undefined)?.[field] as BullRedisConnection | undefined;
    const initialised = connection?.client;
    if (!connection || typeof connection.prependListener !== 'function' || typeof initialised?.then !== 'function') {
      monitor.partUp(part);
      return;
    }
    const status = () => connection._client?.status;
    const unwatch = watchRedisEvents(connection, status, monitor, part, this.seenErrors);
    (worker ? this.workerUnwatchers : this.unwatchers).push(unwatch);
    const current = () => worker === undefined || worker === this.worker;
    initialised.then(
      () => {
        if (current() && (status() === 'ready' || status() === 'connect')) monitor.partUp(part);
      },
      (error: unknown) => {
        if (current()) this.connectionFailed(monitor, error);
      },
    );
  }

  /** A connection whose initialisation failed is dead for good: no retry can bring it back. */
  private connectionFailed(monitor: ConnectionMonitor, error: unknown): void {
    if (monitor.isClosed || this.stopping) return;
    if (typeof error === 'object' && error !== null) this.seenErrors.add(error);
    if (monitor === this.producer) {
      monitor.hold(errorMessage(error), error);
      this.logger.error(REDIS_CONNECTION_FAILED(`Queue "${this.name}" (bullmq) producer`, error));
      this.stopCounts();
      this.failPending(() => new QueueUnavailableError(this.name, error));
      return;
    }
    if (this.workerHalted) return;
    this.logger.error(REDIS_CONNECTION_FAILED(`Queue "${this.name}" (bullmq) worker`, error));
    this.haltWorker(errorMessage(error), error);
  }

  private createWorker(): void {
    if (this.stopping || !this.workerSpec) return; // the host stopped before bullmq was loaded
    const { process, policy } = this.workerSpec;
    const backoff = { type: policy.backoff.type, delay: policy.backoff.delayMs };
    const { Worker, WaitingError } = this.bull!;
    const worker: Worker = new Worker(
      this.name,
      // Two parameters: BullMQ then creates no per-job AbortController (this backend makes one only when a handler reads ctx.signal).
      (job: Job, token?: string) => this.handle(job, token, process, policy, backoff),
      {
        connection: this.clients.worker,
        ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
        concurrency: policy.concurrency,
        // BullMQ merges its defaults with Object.assign: an explicit `undefined` would replace them.
        ...(this.options.lockDurationMs !== undefined && { lockDuration: this.options.lockDurationMs }),
        ...(this.options.stalledIntervalMs !== undefined && { stalledInterval: this.options.stalledIntervalMs }),
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
        ...(this.options.telemetry !== undefined && { telemetry: this.options.telemetry as Telemetry }),
        // No `name`: with one, BullMQ writes it into every job it fetches (a `processedBy` field: a
        // larger HMSET per job, and a larger reply to decode), which raw BullMQ workers do not pay.
        autorun: !this.paused, // paused through HostingRegistry before the worker came up
      },
    );
    this.worker = worker;
    this.spinWindowStart = Date.now();
    this.spinCount = 0;
    const backend = worker.getBackend();
    this.watch(backend, 'connection', this.workerMonitor!, 'main', worker);
    this.watch(backend, 'blockingConnection', this.workerMonitor!, 'blocking', worker);
    worker.on('error', (error: unknown) => this.onWorkerError(worker, error));
    worker.on('failed', (job, error) => {
      if (!job || error instanceof WaitingError || error?.name === 'WaitingError') return;
      if (job.attemptsMade >= policy.attempts)
        policy.onFailed(job.data as T, new JobContext(this.name, job.id!, job.attemptsMade, this.itemSignals), error);
    });
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
    if (this.stopping) return this.handBack(job, token);
    // BullMQ decides retries from the job's own options: the worker's policy wins over the producer's.
    // A job that says one try (or none: BullMQ's 0) under a one-try policy is left as it is: no retry either way.
    if (policy.attempts > 1 || (job.opts.attempts ?? 0) > 1) {
      job.opts.attempts = policy.attempts;
      job.opts.backoff = backoff;
    }
    this.inFlight++;
    if (this.depth > 0) this.depth--;
    const context = new JobContext(this.name, job.id!, job.attemptsMade + 1, this.itemSignals);
    const metadata = job.opts.telemetry?.metadata;
    if (metadata !== undefined) context.carried = metadata;
    let result: unknown;
    try {
      result = process(job.data as T, context);
    } catch (thrown) {
      return this.nacked(job, token, policy, context, thrown);
    }
    if (!isPending(result)) return this.acked(job, token, policy, context);
    return Promise.resolve(result).then(
      () => this.acked(job, token, policy, context),
      (thrown: unknown) => this.nacked(job, token, policy, context, thrown),
    );
  }

  /** The handler returned or resolved. */
  private acked(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext): Promise<void> {
    try {
      policy.onAck(context);
    } catch (thrown) {
      return this.nacked(job, token, policy, context, thrown);
    }
    this.delivered(context);
    return DONE;
  }

  /** The handler threw or rejected: BullMQ gets an Error (it fails the try), or the job back when the shutdown deadline cut it off. */
  private nacked(job: Job, token: string | undefined, policy: WorkerPolicy<T>, context: JobContext, thrown: unknown): Promise<never> {
    // BullMQ reads `.message` of what it gets: `throw undefined` would leave the job active with its
    // lock held, a string would become a null failedReason. It gets an Error, always.
    const error = toError(thrown);
    try {
      policy.onNack(context, error);
    } catch (hookError) {
      this.delivered(context);
      return Promise.reject(hookError as Error);
    }
    if (!context.aborted) {
      this.delivered(context);
      return Promise.reject(error);
    }
    // Cut off by the shutdown deadline: back to the queue, and the try does not count.
    return this.handBack(job, token).finally(() => this.delivered(context));
  }

  /** A delivery ended. */
  private delivered(context: JobContext): void {
    context.release();
    this.inFlight--;
    if (this.inFlight === 0) this.notifyIdle();
  }

  /** Returns an active job to the front of the queue; BullMQ's `WaitingError` tells the worker it was moved. */
  private async handBack(job: Job, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    throw new this.bull!.WaitingError();
  }

  private onProducerError(error: unknown): void {
    if (typeof error === 'object' && error !== null && this.seenErrors.has(error)) return; // reported by the monitor
    if (isRedisConnectionError(error) && !this.producer.isUp) return; // part of an outage already reported
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
    if (isRedisConnectionError(error) && !this.workerMonitor?.isUp) return;
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
    this.logger.error(WORKER_SPINNING(this.name, count, SPIN_WINDOW_MS, error, this.restartDelayMs), stackOf(error));
    this.haltWorker(WORKER_SPINNING_STATUS(count, error, restartAt), error);
    this.restartTimer = setTimeout(() => void this.restartWorker(), this.restartDelayMs);
  }

  /** Stops the worker at once (a job it was running comes back through BullMQ's stalled-job check) and marks it down. */
  private haltWorker(reason: string, error: unknown): void {
    const worker = this.worker;
    this.workerHalted = true;
    this.workerMonitor?.hold(reason, error);
    for (const unwatch of this.workerUnwatchers.splice(0)) unwatch();
    if (!worker) return;
    // `close` stops BullMQ's fetch loop before its next turn; the connections are cut, not quit.
    this.workerClosing = closeOrCut(worker, worker.close(true).catch(() => undefined), this.clients.ownsWorker);
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
      await this.ready;
      for (;;) {
        const counts = await this.queue!.getJobCounts(...states);
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
      const counts = await this.queue.getJobCounts(...UNDELIVERED_STATES);
      this.depth = UNDELIVERED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
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
