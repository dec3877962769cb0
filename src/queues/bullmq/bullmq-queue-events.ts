import type { LoggerService } from '@nestjs/common';
import type { QueueEvents, QueueEventsOptions } from 'bullmq';
import { ConnectionMonitor } from '../../distributed/connection-monitor.js';
import type { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import type { BullMqModule } from '../../distributed/load-optional.js';
import type { QueueEvent, QueueEventName } from '../../interfaces/queue-options.interface.js';
import type { ConnectionStatus } from '../../interfaces/service-status.interface.js';
import { closeOrCut } from './bounded-waits.js';
import type { BullMqStore, ConnectionWatch } from './bullmq-store.js';

/**
 * The custom event a worker of this library writes to the queue's BullMQ event stream when a try
 * failed and BullMQ will try the item again (BullMQ's own stream only says `delayed` or `waiting`,
 * which enqueues and hand-backs say too). Fields: `jobId`, `attempt`, `error`.
 */
export const RETRY_EVENT = 'nest-hosting:retry';
/** BullMQ's default length of a queue's event stream (`streams.events.maxLen`): custom events trim it no shorter. */
export const EVENT_STREAM_MAX_LEN = 10_000;
/**
 * The failure reason of a try that ended as cancelled (`WorkQueue.cancel` aborted it and its handler
 * threw): the job is removed as it fails, and its `failed` event is no dead letter.
 */
export const CANCELLED_REASON = 'nest-hosting:cancelled';

type Listener = (event: QueueEvent) => void;

/** What the events of one queue need from its backend. */
export interface BullMqQueueEventsOptions {
  queueName: string;
  prefix?: string;
  /** The queue's store: `QueueEvents` connects as its worker does. */
  store: BullMqStore;
  logger: LoggerService;
}

/** A first `QueueEvents` that could not get ready (its store unreachable then) is replaced after this. */
const REOPEN_MS = 1_000;

/**
 * A queue's cluster-wide events, read from BullMQ's event stream by one `QueueEvents` (one blocking
 * Redis connection per process and queue, opened on the first subscription, closed on `close`; on
 * PostgreSQL, the `event` table, read through a pool and woken by a LISTEN session).
 * What each event is, in BullMQ's terms (its Lua scripts write the stream):
 *
 * - `completed`: BullMQ's `completed` (a try succeeded, on any process). No attempt number.
 * - `failed` with `willRetry: true`: this library's `nest-hosting:retry` event, written by the
 *   worker process whose try failed when BullMQ retries it (attempt and error message).
 * - `failed` with `willRetry: false`, then `deadLettered`: BullMQ's `failed` (the job moved to the
 *   failed set: its last attempt failed, or it failed for good); the error is BullMQ's
 *   `failedReason`; the attempt is known when BullMQ's `retries-exhausted` follows (tries used up).
 *   A cancelled try (reason `nest-hosting:cancelled`) gives neither.
 * - `stalled`: BullMQ's `stalled` (a worker's claim lapsed, the job went back to wait).
 * - `drained`: BullMQ's `drained`: written as a job finishes, when nothing waits (prioritized
 *   included) and nothing is active; delayed jobs (and retries waiting out a backoff) may remain.
 */
export class BullMqQueueEvents {
  private readonly listeners = new Set<Listener>();
  private readonly monitor: ConnectionMonitor;
  private readonly errors: ErrorLogThrottle;
  private readonly seenErrors = new WeakSet<object>();
  private watch?: ConnectionWatch;
  private events?: QueueEvents;
  private reopenTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;
  /** Final failures read in the current batch, completed with `retries-exhausted` when it follows. */
  private pendingFailures?: Map<string, { error: string; attempt?: number }>;
  /** While a failure waits for the end of its batch: the events after it, in stream order. */
  private held?: Array<() => void>;

  constructor(private readonly options: BullMqQueueEventsOptions) {
    const subject = `Queue "${options.queueName}" (${options.store.label}) events`;
    this.monitor = new ConnectionMonitor('events', subject, options.logger, ['main'], options.store.outage);
    this.errors = options.store.throttle(options.logger, subject);
  }

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Starts reading the stream (once bullmq is loaded) after entry `fromId` (the stream's last entry
   * when the first listener subscribed), or from its next new entry.
   */
  open(bull: BullMqModule, fromId?: string): void {
    if (this.events || this.closing) return;
    const { queueName, prefix, store } = this.options;
    const QueueEventsClass = bull.QueueEvents as unknown as new (name: string, opts: QueueEventsOptions, backendFactory?: unknown) => QueueEvents;
    const events = new QueueEventsClass(
      queueName,
      {
        connection: store.workerConnection,
        ...(prefix !== undefined && { prefix }),
        ...(fromId !== undefined && { lastEventId: fromId }),
      } as QueueEventsOptions,
      store.backendFactory(bull),
    );
    this.events = events;
    events.on('error', (error: unknown) => this.onError(error));
    this.watch = store.watch(events, 'events', this.monitor, {
      seen: this.seenErrors,
      current: () => this.events === events && !this.closing,
      initFailed: (error, recoverable) => {
        this.monitor.partDown('main', error);
        // BullMQ keeps a failed start for good: a new QueueEvents from the same point, once the store answers.
        if (recoverable) this.reopen(bull, events, fromId);
      },
    });
    events.on('completed', ({ jobId }) => this.inOrder(() => this.emit('completed', jobId)));
    events.on('stalled', ({ jobId }) => this.inOrder(() => this.emit('stalled', jobId)));
    events.on('drained', () => this.inOrder(() => this.emit('drained')));
    events.on('failed', ({ jobId, failedReason }) => this.onFailed(jobId, failedReason));
    events.on('retries-exhausted', ({ jobId, attemptsMade }) => {
      const pending = this.pendingFailures?.get(jobId);
      if (pending) pending.attempt = Number(attemptsMade);
    });
    events.on(RETRY_EVENT as 'waiting', (args: Record<string, string>) =>
      this.inOrder(() => this.emit('failed', args.jobId, { attempt: Number(args.attempt), error: args.error, willRetry: true })),
    );
  }

  /** The `events` connection's state, once opened. */
  status(): ConnectionStatus | undefined {
    return this.events ? this.monitor.status() : undefined;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.reopenTimer);
      this.listeners.clear();
      this.monitor.close();
      const events = this.events;
      if (events) await closeOrCut(events, events.close().catch(() => undefined), this.options.store.ownsWorker);
      this.watch?.close();
      this.errors.dispose();
    })();
    return this.closing;
  }

  /** Replaces `events`, which could not get ready, by a new one reading from `fromId`, shortly. */
  private reopen(bull: BullMqModule, events: QueueEvents, fromId: string | undefined): void {
    this.watch?.close();
    this.watch = undefined;
    void closeOrCut(events, events.close().catch(() => undefined), this.options.store.ownsWorker);
    this.reopenTimer = setTimeout(() => {
      if (this.closing || this.events !== events) return;
      this.events = undefined;
      this.open(bull, fromId);
    }, REOPEN_MS);
  }

  /**
   * BullMQ's `failed`: the job is in the failed set. Its `retries-exhausted` (with the tries made)
   * comes next in the same read of the stream, so the events go out once that read is handled.
   */
  private onFailed(jobId: string, failedReason: string): void {
    if (failedReason === CANCELLED_REASON) return;
    const failure: { error: string; attempt?: number } = { error: failedReason };
    if (!this.pendingFailures) {
      this.pendingFailures = new Map();
      const held: Array<() => void> = (this.held = []);
      queueMicrotask(() => {
        this.pendingFailures = undefined;
        this.held = undefined;
        for (const emit of held) emit();
      });
    }
    this.pendingFailures.set(jobId, failure);
    this.held!.push(() => {
      const { error, attempt } = failure;
      const known = attempt !== undefined && Number.isFinite(attempt) ? { attempt } : {};
      this.emit('failed', jobId, { ...known, error, willRetry: false });
      this.emit('deadLettered', jobId, { ...known, error });
    });
  }

  /** Emits now, or after a failure of the same batch that waits for its attempt number. */
  private inOrder(emit: () => void): void {
    if (this.held) this.held.push(emit);
    else emit();
  }

  private emit(name: QueueEventName, id?: string, extra?: Partial<QueueEvent>): void {
    if (this.listeners.size === 0) return;
    const event: QueueEvent = { queue: this.options.queueName, name, ...(id !== undefined && { id }), ...extra, at: new Date() };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.errors.report(error);
      }
    }
  }

  private onError(error: unknown): void {
    if (typeof error === 'object' && error !== null && this.seenErrors.has(error)) return;
    if (this.watch?.failed(error)) return;
    if (this.options.store.isConnectionError(error) && !this.monitor.isUp) return;
    this.errors.report(error);
  }
}
