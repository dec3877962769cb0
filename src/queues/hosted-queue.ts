import type { LoggerService } from '@nestjs/common';
import {
  CONNECTIONS_DOWN,
  QUEUE_HOOK_FAILED,
  QUEUE_ITEM_FAILED,
  QUEUE_LISTENER_FAILED,
  QUEUE_EVENT_UNSUPPORTED,
  QUEUE_ITEM_RETRY,
  QUEUE_STOP_FAILED,
  QUEUE_UNDELIVERED,
  stackOf,
} from '../hosting.messages.js';
import { errorMessage, toError } from '../errors/thrown-value.js';
import type { CancelResult, DeadLetterPage, QueueEvent, QueueEventName, QueueOptions } from '../interfaces/queue-options.interface.js';
import type { ResolvedWorkerOptions } from './queue-options.validation.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { QueueEventListener, QueueUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker, coarseClock } from '../registry/status-tracker.js';
import type { Invoker } from '../scopes/scoped-invoker.js';
import { JobContext } from './job-context.js';
import { isPending, type QueueBackend } from './queue-backend.interface.js';
import { TimeProvider } from '../time/time-provider.js';
import { QueueItemTimeoutError } from './errors/queue-item-timeout.error.js';

/** The worker method bound to a queue. */
export interface BoundWorker {
  invoke: Invoker;
  methodName: string | symbol;
  options: ResolvedWorkerOptions;
}

/** One bit per event: a queue's listeners' events in one number, tested before an event object is made. */
const EVENT_BITS: Readonly<Record<QueueEventName, number>> = { completed: 1, failed: 2, deadLettered: 4, stalled: 8, drained: 16 };
const EVERY_EVENT = 31;
const maskOf = (events: readonly QueueEventName[] | undefined): number =>
  events === undefined ? EVERY_EVENT : events.reduce((mask, name) => mask | EVENT_BITS[name], 0);

/** One listener of a queue's events. */
interface Subscription {
  mask: number;
  listener: QueueEventListener;
  /** Who listens, for the log line when it throws (`Class.method`, `HostingRegistry.onQueueEvent listener`). */
  owner: string;
}

/**
 * One queue as the host runs it, whatever its backend: the per-item pipeline (scope, ack/nack,
 * counting, failure reporting, events, progress) lives here once, above `QueueBackend`.
 */
export class HostedQueue<T> implements QueueUnit {
  readonly kind = 'queue';
  private readonly tracker: StatusTracker;
  private processed = 0;
  private failed = 0;
  /** Failed tries that will be tried again. */
  private retried = 0;
  /** Items handed to `onDropped` (memory: evicted by the full mode, or left at the shutdown deadline). */
  private dropped = 0;
  /** Items cancelled by `cancel(id)`: removed before they ran, or ended by the abort. */
  private cancelled = 0;
  /** Until when a handler's `RateLimitedError` holds deliveries back (epoch ms; 0: never). */
  private limitedUntil = 0;
  /** The latest progress of each running item that reported one (made at the first report). */
  private reported?: Map<JobContext, number | object>;
  /** This process's listeners (backends without `subscribe`); copied on change, so an emit may unsubscribe. */
  private listeners: readonly Subscription[] = [];
  /** The events any of `listeners` wants: 0 while nobody listens, and then no event object is made. */
  private listening = 0;
  /** `@OnQueueEvent` methods bound at module init: subscribed at start, released at stop. */
  private bound?: Array<{ events: readonly QueueEventName[]; listener: QueueEventListener; owner: string }>;
  private releases?: Array<() => void>;
  private worker?: BoundWorker;

  constructor(
    readonly options: QueueOptions<T>,
    readonly backend: QueueBackend<T>,
    readonly backendKind: 'memory' | 'bullmq',
    private readonly logger: LoggerService,
    private readonly time: TimeProvider = TimeProvider.system,
  ) {
    // The system clock is read coarsely on this per-item path; any other clock (virtual time) exactly.
    this.tracker = new StatusTracker(options.name, 'queue', time === TimeProvider.system ? coarseClock : () => time.now());
  }

  /** Items queued or in flight (not retries waiting out their backoff), for `HostingRegistry.whenIdle`. */
  busyWork(): Promise<void> | undefined {
    // A durable queue's items live in Redis, and waiting on them means polling it: `drain()` does.
    return this.backendKind === 'memory' ? this.backend.whenSettled?.(false) : undefined;
  }

  get name(): string {
    return this.options.name;
  }

  private disabled = false;

  get hasWorker(): boolean {
    return this.worker !== undefined;
  }

  /** Its `@QueueWorker` is turned off in this process (`enabled: false`): shown as `'disabled'`, nothing consumed here. */
  get workerDisabled(): boolean {
    return this.disabled;
  }

  /** Marks the worker as turned off here (the queue still takes items). */
  disableWorker(): void {
    this.disabled = true;
  }

  bindWorker(worker: BoundWorker): void {
    this.worker = worker;
  }

  /** An `@OnQueueEvent` method (`owner`): subscribed when the queue starts, released when it stops. */
  bindEventListener(events: readonly QueueEventName[], listener: QueueEventListener, owner: string): void {
    this.assertEventsSupported(events, owner);
    (this.bound ??= []).push({ events, listener, owner });
  }

  start(): void {
    this.tracker.state = this.disabled ? 'disabled' : 'running';
    // Events are the whole queue's (on BullMQ the cluster's): listened to whether or not the worker runs here.
    if (this.bound !== undefined) this.releases = this.bound.map(({ events, listener, owner }) => this.subscribe(events, listener, owner));
    const worker = this.worker;
    if (!worker) return;
    const { attempts } = worker.options;
    const { methodName, invoke } = worker;
    const tracker = this.tracker;
    // The backend awaits what the method returned itself and reports the outcome below: no
    // wrapper promise per item (a static async worker costs one await per item, as a loop would).
    this.backend.startWorker(
      (data, context) => {
        context.startedAt = tracker.itemStarted();
        context.progressSink = this;
        return invoke(context, methodName, data, context);
      },
      {
        ...worker.options,
        onAck: (context) => {
          this.processed++;
          tracker.itemSucceeded(context.startedAt);
          this.ended(context);
          if ((this.listening & EVENT_BITS.completed) !== 0) this.emit(this.itemEvent('completed', context));
        },
        onNack: (context, error) => {
          tracker.itemFailed(error, context.startedAt);
          this.ended(context);
          // The item's own attempts win over the worker's; a try cut off by the shutdown deadline is not retried (a timeout's is).
          const tries = context.itemOptions?.attempts ?? attempts;
          const willRetry = context.attempt < tries && (!context.aborted || error instanceof QueueItemTimeoutError);
          if (willRetry) {
            this.retried++;
            this.logger.warn(QUEUE_ITEM_RETRY(this.name, context.id, context.attempt, tries, error));
          }
          if ((this.listening & EVENT_BITS.failed) !== 0) {
            const event = this.itemEvent('failed', context);
            event.error = errorMessage(error);
            event.willRetry = willRetry;
            this.emit(event);
          }
        },
        onFailed: (data, context, error) => this.onFailed(data, context, error),
        // Not an event: `cancel(id)` was asked for by the app itself, which has its answer.
        onCancelled: (_id, context) => {
          this.cancelled++;
          if (context === undefined) return;
          tracker.itemStopped(context.startedAt);
          this.ended(context);
        },
        // Not a failure: the item waits at the head of the queue, and its try is not counted.
        onRateLimited: (context, until) => {
          tracker.itemNotCounted();
          this.ended(context);
          if (until > this.limitedUntil) this.limitedUntil = until;
        },
        onDrained: () => {
          if ((this.listening & EVENT_BITS.drained) !== 0) this.emit({ queue: this.name, name: 'drained', at: new Date(this.time.now()) });
        },
      },
    );
  }

  /** `JobContext.progressSink`: a running item's latest progress, for `status().progress`, and the backend's (BullMQ: the job's). */
  progress(context: JobContext, value: number | object): void {
    (this.reported ??= new Map()).set(context, value);
    this.backend.progress?.(context, value);
  }

  /** A try ended: its progress goes, and a late `ctx.progress` reports nowhere. */
  private ended(context: JobContext): void {
    context.progressSink = undefined;
    if (this.reported !== undefined) this.reported.delete(context);
  }

  /** A page of dead letters, newest first (`HostingRegistry.deadLetters`, which checked the paging). */
  deadLetters(offset: number, limit: number): Promise<DeadLetterPage<unknown>> {
    return this.backend.deadLetters(offset, limit);
  }

  /** Puts dead letters back in the queue (all when `id` is undefined). */
  redrive(id?: string): Promise<number> {
    return this.backend.redrive(id);
  }

  /** Deletes dead letters (all when `id` is undefined). */
  discard(id?: string): Promise<number> {
    return this.backend.discard(id);
  }

  /** Removes a waiting item or aborts a running one (as `WorkQueue.cancel`). */
  cancel(id: string): Promise<CancelResult> {
    return this.backend.cancel(id);
  }

  /**
   * Calls `listener` with the queue's `events` (every one when undefined) until the returned function
   * is called. A backend with its own events (BullMQ: the cluster's, through QueueEvents) serves
   * them; otherwise they are this process's, emitted from the worker's outcomes. A listener that
   * throws or rejects is logged, naming `owner`; the queue goes on.
   */
  subscribe(events: readonly QueueEventName[] | undefined, listener: QueueEventListener, owner: string): () => void {
    if (events !== undefined) this.assertEventsSupported(events, owner);
    const subscription: Subscription = { mask: maskOf(events), listener, owner };
    if (this.backend.subscribe) {
      const { mask } = subscription;
      const release = this.backend.subscribe((event) => {
        if ((mask & (EVENT_BITS[event.name] ?? 0)) !== 0) this.deliver(subscription, event);
      });
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        release();
      };
    }
    this.listeners = [...this.listeners, subscription];
    this.listening |= subscription.mask;
    return () => {
      if (!this.listeners.includes(subscription)) return;
      this.listeners = this.listeners.filter((s) => s !== subscription);
      this.listening = this.listeners.reduce((mask, s) => mask | s.mask, 0);
    };
  }

  /**
   * Refuses, naming the listener, an event this queue's backend never emits instead of a listener
   * that would silently never hear it: `stalled` needs a durable backend (in memory an item dies
   * with its process, nobody is left to see it stall). `'*'` (every event) is fine.
   */
  private assertEventsSupported(events: readonly QueueEventName[], owner: string): void {
    if (this.backend.subscribe === undefined && events.includes('stalled'))
      throw new TypeError(QUEUE_EVENT_UNSUPPORTED(this.name, 'stalled', this.backendKind, owner));
  }

  /** An event of item `context`, for the listeners (made only when one listens). */
  private itemEvent(name: QueueEventName, context: JobContext): QueueEvent {
    return { queue: this.name, name, id: context.id, attempt: context.attempt, at: new Date(this.time.now()) };
  }

  private emit(event: QueueEvent): void {
    const bit = EVENT_BITS[event.name];
    for (const subscription of this.listeners) if ((subscription.mask & bit) !== 0) this.deliver(subscription, event);
  }

  /** Calls one listener; a throw or a rejection is logged, never fatal, never in the way of the next item. */
  private deliver(subscription: Subscription, event: QueueEvent): void {
    try {
      const result = subscription.listener(event);
      if (isPending(result)) Promise.resolve(result).then(undefined, (error: unknown) => this.listenerFailed(subscription, event, error));
    } catch (error) {
      this.listenerFailed(subscription, event, error);
    }
  }

  private listenerFailed(subscription: Subscription, event: QueueEvent, error: unknown): void {
    try {
      this.logger.error(QUEUE_LISTENER_FAILED(this.name, event.name, subscription.owner), stackOf(error));
    } catch {
      // A logger that throws must not take the queue with it.
    }
  }

  /** Releases the `@OnQueueEvent` subscriptions made at start. */
  private releaseBound(): void {
    const releases = this.releases;
    this.releases = undefined;
    if (releases !== undefined) for (const release of releases) release();
  }

  /** Resolves (never rejects) once the queue has stopped, with how many items it left undelivered. */
  stop({ deadline }: StopRequest): Promise<{ undelivered: number }> {
    this.tracker.state = 'stopping';
    this.backend.closeIntake();
    return this.backend.stop(deadline).then(
      ({ undelivered }) => {
        this.tracker.state = 'stopped';
        this.releaseBound();
        this.reported = undefined;
        if (undelivered > 0) this.logger.warn(QUEUE_UNDELIVERED(this.name, undelivered, this.backendKind === 'bullmq', this.backend.storeName));
        return { undelivered };
      },
      (error) => {
        this.tracker.state = 'stopped';
        this.releaseBound();
        this.reported = undefined;
        this.logger.error(QUEUE_STOP_FAILED(this.name), stackOf(error));
        return { undelivered: 0 };
      },
    );
  }

  status(): ServiceStatus {
    const { depth, inFlight } = this.backend.counts();
    const connections = this.backend.connections?.();
    const status = this.tracker.snapshot({
      depth,
      inFlight,
      processed: this.processed,
      failed: this.failed,
      retried: this.retried,
      dropped: this.dropped,
      cancelled: this.cancelled,
      deadLetters: this.backend.deadLetterCount(),
      backend: this.backendKind,
      connections,
    });
    const reported = this.reported;
    if (reported !== undefined && reported.size > 0)
      status.progress = [...reported].map(([context, value]) => ({ id: context.id, attempt: context.attempt, value }));
    // The later of the limiter's window (the backend's) and a handler's RateLimitedError, while it lies ahead.
    const until = Math.max(this.backend.rateLimitedUntil?.() ?? 0, this.limitedUntil);
    if (until > this.time.now()) status.rateLimitedUntil = new Date(until);
    // While a connection is down, that is the queue's most pressing error (the worker cannot fetch, enqueue fails).
    const down = connections?.filter((c) => c.state === 'down') ?? [];
    if (down.length > 0)
      status.lastError = { message: CONNECTIONS_DOWN(down, this.backend.storeName), at: new Date(Math.min(...down.map((c) => c.since.getTime()))) };
    return status;
  }

  pause(): void {
    this.tracker.paused = true;
    this.backend.pause();
  }

  resume(): void {
    this.tracker.paused = false;
    this.backend.resume();
  }

  /** Calls a user hook; a throwing hook is logged, never lost and never fatal. */
  callHook<A extends unknown[]>(hook: 'onFailed' | 'onDropped', ...args: A): void {
    if (hook === 'onDropped') this.dropped++;
    const fn = this.options[hook] as ((...a: A) => void) | undefined;
    if (!fn) return;
    try {
      fn(...args);
    } catch (error) {
      this.logger.error(QUEUE_HOOK_FAILED(this.name, hook), stackOf(error));
    }
  }

  private onFailed(data: T, context: JobContext, thrown: unknown): void {
    this.failed++;
    this.ended(context);
    const error = toError(thrown); // onFailed gets an Error whatever the handler threw (ThrownValueError keeps the value)
    try {
      this.logger.error(QUEUE_ITEM_FAILED(this.name, context.id, context.attempt), stackOf(error));
    } finally {
      this.callHook('onFailed', data, error, { id: context.id, attempts: context.attempt });
      if ((this.listening & EVENT_BITS.deadLettered) !== 0) {
        const event = this.itemEvent('deadLettered', context);
        event.error = error.message;
        this.emit(event);
      }
    }
  }
}
