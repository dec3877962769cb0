import type { LoggerService } from '@nestjs/common';
import {
  QUEUE_HOOK_FAILED,
  QUEUE_ITEM_FAILED,
  QUEUE_ITEM_RETRY,
  QUEUE_STOP_FAILED,
  QUEUE_UNDELIVERED,
  stackOf,
} from '../hosting.messages.js';
import type { QueueOptions, QueueWorkerOptions } from '../interfaces/queue-options.interface.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit, StopRequest } from '../registry/hosted-unit.js';
import { StatusTracker, coarseClock } from '../registry/status-tracker.js';
import type { Invoker } from '../scopes/scoped-invoker.js';
import { JobContext } from './job-context.js';
import type { DeliveredJob, QueueBackend } from './queue-backend.interface.js';

/** The worker method bound to a queue. */
export interface BoundWorker {
  invoke: Invoker;
  methodName: string | symbol;
  options: Required<QueueWorkerOptions>;
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
  private worker?: BoundWorker;

  constructor(
    readonly options: QueueOptions<T>,
    readonly backend: QueueBackend<T>,
    readonly backendKind: 'memory' | 'bullmq',
    private readonly logger: LoggerService,
  ) {
    this.tracker = new StatusTracker(options.name, 'queue', coarseClock);
  }

  get name(): string {
    return this.options.name;
  }

  get hasWorker(): boolean {
    return this.worker !== undefined;
  }

  bindWorker(worker: BoundWorker): void {
    this.worker = worker;
  }

  start(): void {
    this.tracker.state = 'running';
    const worker = this.worker;
    if (!worker) return;
    const { attempts } = worker.options;
    const { methodName, invoke } = worker;
    const onError = (job: DeliveredJob<T>, signal: AbortSignal, error: unknown, startedAt: number): never => {
      this.tracker.runFailed(error, startedAt);
      if (job.attempt < attempts && !signal.aborted) {
        this.logger.warn(QUEUE_ITEM_RETRY(this.name, job.id, job.attempt, attempts, error));
      }
      throw error;
    };
    const onSuccess = (startedAt: number): void => {
      this.processed++;
      this.tracker.runSucceeded(startedAt);
    };
    const settle = async (pending: Promise<unknown>, job: DeliveredJob<T>, signal: AbortSignal, startedAt: number): Promise<void> => {
      try {
        await pending;
      } catch (error) {
        onError(job, signal, error, startedAt);
      }
      onSuccess(startedAt);
    };
    this.backend.startWorker(
      (job, signal) => {
        const context = new JobContext(this.name, job.id, job.attempt, signal);
        const startedAt = this.tracker.runStarted();
        let result: unknown;
        try {
          result = invoke(context, methodName, job.data, context);
        } catch (error) {
          return onError(job, signal, error, startedAt);
        }
        if (result instanceof Promise) return settle(result, job, signal, startedAt);
        onSuccess(startedAt);
      },
      { ...worker.options, onFailed: (job, error) => this.onFailed(job, error) },
    );
  }

  stop({ deadline }: StopRequest): Promise<void> {
    this.tracker.state = 'stopping';
    this.backend.closeIntake();
    return this.backend.stop(deadline).then(
      ({ undelivered }) => {
        this.tracker.state = 'stopped';
        if (undelivered > 0) this.logger.warn(QUEUE_UNDELIVERED(this.name, undelivered, this.backendKind === 'bullmq'));
      },
      (error) => {
        this.tracker.state = 'stopped';
        this.logger.error(QUEUE_STOP_FAILED(this.name), stackOf(error));
      },
    );
  }

  status(): ServiceStatus {
    const { depth, inFlight } = this.backend.counts();
    return this.tracker.snapshot({ depth, inFlight, processed: this.processed, failed: this.failed, backend: this.backendKind });
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
    const fn = this.options[hook] as ((...a: A) => void) | undefined;
    if (!fn) return;
    try {
      fn(...args);
    } catch (error) {
      this.logger.error(QUEUE_HOOK_FAILED(this.name, hook), stackOf(error));
    }
  }

  private onFailed(job: DeliveredJob<T>, error: unknown): void {
    this.failed++;
    this.logger.error(QUEUE_ITEM_FAILED(this.name, job.id, job.attempt), stackOf(error));
    this.callHook('onFailed', job.data, error, { id: job.id, attempts: job.attempt });
  }
}
