import { stackOf } from '../../hosting.messages.js';
import type { LoggerService } from '@nestjs/common';
import type { Job, JobsOptions, Queue, Worker } from 'bullmq';
import { hostname } from 'node:os';
import { loadBullMq, type BullMqModule } from '../../distributed/load-optional.js';
import { assertRedisConnection } from '../../distributed/redis-connection.js';
import { isRedisConnectionError, RedisOutageReporter } from '../../distributed/redis-outage-reporter.js';
import { WORKER_NOT_STARTED } from '../../distributed/redis.messages.js';
import type { ConnectionOptions } from '../../interfaces/redis-connection.interface.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { JobContext } from '../job-context.js';
import { isPending, type JobProcessor, type QueueBackend, type QueueCounts, type WorkerPolicy } from '../queue-backend.interface.js';
import { closeOrCut, raceAbort } from './bounded-waits.js';
import { bullMqConnections, type BullMqConnections } from './bullmq-connections.js';
import { QueueUnavailableError } from './queue-unavailable.error.js';

/** Options of the BullMQ backend of one queue. */
export interface BullMqQueueBackendOptions {
  /** The queue's name (BullMQ's queue name). */
  queueName: string;
  /** Redis: a `redis://` URL, ioredis options, or an ioredis instance (shared, left open). */
  connection: ConnectionOptions;
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
}

/** How often cached counts are refreshed from Redis (one round trip). */
const COUNTS_REFRESH_MS = 1_000;
/** Longest wait for the final count of undelivered jobs at shutdown. */
const FINAL_COUNT_TIMEOUT_MS = 2_000;
/** Jobs kept in Redis after they finish (BullMQ keeps every one by default). */
const KEEP_COMPLETED = { count: 1_000 };
const KEEP_FAILED = { count: 10_000 };
const UNDELIVERED_STATES = ['wait', 'prioritized', 'delayed'] as const;

/**
 * The durable backend: a BullMQ `Queue` for `enqueue` and a BullMQ `Worker` for delivery, so
 * retries, delays, crash recovery (stalled jobs) and several processes on one queue are
 * BullMQ's own. bullmq is loaded on first use, never by apps that do not use this backend.
 */
export class BullMqQueueBackend<T> implements QueueBackend<T> {
  /** Settles once bullmq is loaded and the producer exists; rejects with install guidance when bullmq is missing. */
  readonly ready: Promise<void>;
  private readonly name: string;
  private readonly logger: LoggerService;
  private readonly clients: BullMqConnections;
  private readonly outage: RedisOutageReporter;
  /** Aborts at the shutdown deadline: the signal every handler gets. */
  private readonly itemSignal = new AbortController();
  private bull?: BullMqModule;
  private queue?: Queue;
  private worker?: Worker;
  private workerStarted: Promise<void> = Promise.resolve();
  private workerClosing?: Promise<void>;
  private disposing?: Promise<void>;
  private jobOptions: JobsOptions = {};
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
    assertRedisConnection(`HostingModule.registerQueue({ name: '${this.name}' })`, options.connection);
    this.clients = bullMqConnections(this.name, options.connection);
    this.outage = new RedisOutageReporter(this.logger, `Queue "${this.name}" (bullmq)`);
    this.ready = this.init();
    this.ready.catch(() => undefined); // surfaced by enqueue, startWorker and whoever awaits `ready`
  }

  enqueue(data: T, signal?: AbortSignal): Promise<string> {
    if (this.intakeClosed) return Promise.reject(new QueueClosedError(this.name));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const added = this.ready.then(() => this.queue!.add(this.name, data, this.jobOptions));
    return raceAbort(added, signal).then(
      (job) => {
        this.depth++;
        return job.id!;
      },
      (error: unknown) => {
        throw isRedisConnectionError(error) ? new QueueUnavailableError(this.name, error) : error;
      },
    );
  }

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    // Recorded on jobs added here too, so that Redis (and dashboards) show the policy; the worker
    // applies it in any case, whoever added the job.
    this.jobOptions = { attempts: policy.attempts, backoff: { type: policy.backoff.type, delay: policy.backoff.delayMs } };
    this.workerStarted = this.ready
      .then(() => this.createWorker(process, policy))
      .catch((error: unknown) => this.logger.error(WORKER_NOT_STARTED(this.name), stackOf(error)));
  }

  closeIntake(): void {
    this.intakeClosed = true;
  }

  async stop(deadline: AbortSignal): Promise<{ undelivered: number }> {
    this.closeIntake();
    this.stopping = true;
    await this.workerStarted;
    const worker = this.worker;
    if (!worker) {
      this.stopCounts();
      return { undelivered: 0 }; // a producer-only process: what waits in Redis is not its to report
    }
    // No new deliveries (a job fetched in the meantime is handed straight back); running ones finish.
    worker.pause(true).catch((error: unknown) => this.reportError(error));
    await this.whenIdle(deadline);
    if (this.inFlight > 0) {
      this.itemSignal.abort(new Error(`shutdown deadline passed while queue "${this.name}" was draining`));
      await this.whenIdle();
    }
    // Redis down: a graceful close would wait for it (its QUIT queues up), so cut the connections.
    this.workerClosing ??= worker.close(this.outage.down).catch((error: unknown) => this.reportError(error));
    await closeOrCut(worker, this.workerClosing, this.clients.ownsWorker);
    this.stopCounts();
    return { undelivered: await this.countUndelivered() };
  }

  counts(): QueueCounts {
    return { depth: this.depth, inFlight: this.inFlight };
  }

  pause(): void {
    this.paused = true;
    this.worker?.pause().catch((error: unknown) => this.reportError(error));
  }

  resume(): void {
    this.paused = false;
    this.worker?.resume().catch((error: unknown) => this.reportError(error));
  }

  /**
   * Closes the worker and the queue's connections. A worker that `stop` could not close (a handler
   * ignored the deadline) is closed by force: its job stays claimed until the claim lapses, then
   * BullMQ's stalled-job check gives it to another worker.
   */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      this.closeIntake();
      this.stopping = true;
      this.stopCounts();
      await this.workerStarted;
      const worker = this.worker;
      if (worker) {
        this.workerClosing ??= worker.close(this.inFlight > 0 || this.outage.down).catch((error: unknown) => this.reportError(error));
        await closeOrCut(worker, this.workerClosing, this.clients.ownsWorker);
      }
      if (this.queue) await closeOrCut(this.queue, this.queue.close(), this.clients.ownsProducer);
    })();
    return this.disposing;
  }

  private async init(): Promise<void> {
    this.bull = await loadBullMq();
    const queue = new this.bull.Queue(this.name, {
      connection: this.clients.producer,
      ...(this.options.prefix !== undefined && { prefix: this.options.prefix }),
    });
    queue.on('error', (error) => this.reportError(error));
    queue.getBackend().on('ready', () => this.outage.recovered());
    this.queue = queue;
    this.countsTimer = setInterval(() => void this.refreshCounts(), COUNTS_REFRESH_MS);
    this.countsTimer.unref();
    void this.refreshCounts();
  }

  private createWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    if (this.stopping) return; // the host stopped before bullmq was loaded
    const backoff = { type: policy.backoff.type, delay: policy.backoff.delayMs };
    const { Worker, WaitingError } = this.bull!;
    const worker: Worker = new Worker(
      this.name,
      // Two parameters: BullMQ then creates no per-job AbortController (this backend has one for all).
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
        name: `${hostname()}:${globalThis.process.pid}`,
        autorun: !this.paused, // paused through HostingRegistry before the worker came up
      },
    );
    worker.on('error', (error) => this.reportError(error));
    worker.getBackend().on('ready', () => this.outage.recovered());
    worker.on('failed', (job, error) => {
      if (!job || error instanceof WaitingError || error?.name === 'WaitingError') return;
      if (job.attemptsMade >= policy.attempts)
        policy.onFailed(job.data as T, new JobContext(this.name, job.id!, job.attemptsMade, this.itemSignal.signal), error);
    });
    this.worker = worker;
  }

  /** One delivery: the pipeline above decides ack (resolve) or nack (throw); BullMQ retries per the policy. */
  private async handle(
    job: Job,
    token: string | undefined,
    process: JobProcessor<T>,
    policy: WorkerPolicy<T>,
    backoff: { type: 'fixed' | 'exponential'; delay: number },
  ): Promise<void> {
    if (this.stopping) return this.handBack(job, token);
    // BullMQ decides retries from the job's own options: the worker's policy wins over the producer's.
    job.opts.attempts = policy.attempts;
    job.opts.backoff = backoff;
    this.inFlight++;
    if (this.depth > 0) this.depth--;
    const context = new JobContext(this.name, job.id!, job.attemptsMade + 1, this.itemSignal.signal);
    try {
      const result = process(job.data as T, context);
      if (isPending(result)) await result;
      policy.onAck(context);
    } catch (error) {
      policy.onNack(context, error);
      if (!context.signal.aborted) throw error;
      // Cut off by the shutdown deadline: back to the queue, and the try does not count.
      await this.handBack(job, token);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.notifyIdle();
    }
  }

  /** Returns an active job to the front of the queue; BullMQ's `WaitingError` tells the worker it was moved. */
  private async handBack(job: Job, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    throw new this.bull!.WaitingError();
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

  private notifyIdle(): void {
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }

  private async refreshCounts(): Promise<void> {
    if (this.refreshing || !this.queue) return;
    this.refreshing = true;
    try {
      const counts = await this.queue.getJobCounts(...UNDELIVERED_STATES);
      this.depth = UNDELIVERED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
      this.outage.recovered();
    } catch (error) {
      this.reportError(error);
    } finally {
      this.refreshing = false;
    }
  }

  private stopCounts(): void {
    clearInterval(this.countsTimer);
    this.countsTimer = undefined;
  }

  private async countUndelivered(): Promise<number> {
    if (!this.queue || this.outage.down) return this.depth;
    const counted = this.queue.getJobCounts(...UNDELIVERED_STATES);
    const counts = await raceAbort(counted, AbortSignal.timeout(FINAL_COUNT_TIMEOUT_MS)).catch(() => undefined);
    return counts ? UNDELIVERED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0) : this.depth;
  }

  private reportError(error: unknown): void {
    this.outage.error(error);
  }
}
