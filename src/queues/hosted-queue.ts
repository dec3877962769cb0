import type { LoggerService } from '@nestjs/common';
import {
  CONNECTIONS_DOWN,
  QUEUE_HOOK_FAILED,
  QUEUE_ITEM_FAILED,
  QUEUE_ITEM_RETRY,
  QUEUE_STOP_FAILED,
  QUEUE_UNDELIVERED,
  stackOf,
} from '../hosting.messages.js';
import { toError } from '../errors/thrown-value.js';
import type { QueueOptions } from '../interfaces/queue-options.interface.js';
import type { ResolvedWorkerOptions } from './queue-options.validation.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker, coarseClock } from '../registry/status-tracker.js';
import type { Invoker } from '../scopes/scoped-invoker.js';
import { JobContext } from './job-context.js';
import type { QueueBackend } from './queue-backend.interface.js';
import { TimeProvider } from '../time/time-provider.js';

/** The worker method bound to a queue. */
export interface BoundWorker {
  invoke: Invoker;
  methodName: string | symbol;
  options: ResolvedWorkerOptions;
}

/**
 * One queue as the host runs it, whatever its backend: the per-item pipeline (scope, ack/nack,
 * counting, failure reporting) lives here once, above `QueueBackend`.
 */
export class HostedQueue<T> implements HostedUnit {
  readonly kind = 'queue';
  private readonly tracker: StatusTracker;
  private processed = 0;
  private failed = 0;
  /** Failed tries that will be tried again. */
  private retried = 0;
  /** Items handed to `onDropped` (memory: evicted by the full mode, or left at the shutdown deadline). */
  private dropped = 0;
  private worker?: BoundWorker;

  constructor(
    readonly options: QueueOptions<T>,
    readonly backend: QueueBackend<T>,
    readonly backendKind: 'memory' | 'bullmq',
    private readonly logger: LoggerService,
    time: TimeProvider = TimeProvider.system,
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

  start(): void {
    this.tracker.state = this.disabled ? 'disabled' : 'running';
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
        return invoke(context, methodName, data, context);
      },
      {
        ...worker.options,
        onAck: (context) => {
          this.processed++;
          tracker.itemSucceeded(context.startedAt);
        },
        onNack: (context, error) => {
          tracker.itemFailed(error, context.startedAt);
          if (context.attempt < attempts && !context.aborted) {
            this.retried++;
            this.logger.warn(QUEUE_ITEM_RETRY(this.name, context.id, context.attempt, attempts, error));
          }
        },
        onFailed: (data, context, error) => this.onFailed(data, context, error),
        // H3-TEMP: counted and evented by the pipeline (H3)
        onCancelled: () => undefined,
        onRateLimited: () => undefined,
      },
    );
  }

  /** Resolves (never rejects) once the queue has stopped, with how many items it left undelivered. */
  stop({ deadline }: StopRequest): Promise<{ undelivered: number }> {
    this.tracker.state = 'stopping';
    this.backend.closeIntake();
    return this.backend.stop(deadline).then(
      ({ undelivered }) => {
        this.tracker.state = 'stopped';
        if (undelivered > 0) this.logger.warn(QUEUE_UNDELIVERED(this.name, undelivered, this.backendKind === 'bullmq'));
        return { undelivered };
      },
      (error) => {
        this.tracker.state = 'stopped';
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
      backend: this.backendKind,
      connections,
    });
    // While a connection is down, that is the queue's most pressing error (the worker cannot fetch, enqueue fails).
    const down = connections?.filter((c) => c.state === 'down') ?? [];
    if (down.length > 0)
      status.lastError = { message: CONNECTIONS_DOWN(down), at: new Date(Math.min(...down.map((c) => c.since.getTime()))) };
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
    const error = toError(thrown); // onFailed gets an Error whatever the handler threw (ThrownValueError keeps the value)
    try {
      this.logger.error(QUEUE_ITEM_FAILED(this.name, context.id, context.attempt), stackOf(error));
    } finally {
      this.callHook('onFailed', data, error, { id: context.id, attempts: context.attempt });
    }
  }
}
