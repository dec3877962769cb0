import type { QueueFullMode } from '../../interfaces/queue-options.interface.js';
import type { DeliveredJob, JobProcessor, QueueBackend, QueueCounts, WorkerPolicy } from '../queue-backend.interface.js';
import { retryDelayMs } from '../retry-delay.js';
import { CHANNEL_DONE, MemoryChannel } from './memory-channel.js';

/** Options of the in-process backend. */
export interface MemoryQueueBackendOptions<T> {
  name: string;
  capacity?: number;
  fullMode?: QueueFullMode;
  /** Items evicted by the full mode, or left undelivered at the shutdown deadline. */
  onDropped(item: T, reason: 'dropOldest' | 'dropNewest' | 'shutdown'): void;
}

/**
 * The embedded backend: a `MemoryChannel` (bounded, with backpressure) and `concurrency` lanes
 * that take items in order. Retries wait out their backoff beside the channel, not in it, so a
 * failing item never holds up the items behind it and never counts against the capacity.
 */
export class MemoryQueueBackend<T> implements QueueBackend<T> {
  private readonly channel: MemoryChannel<DeliveredJob<T>>;
  private readonly retriesDue: DeliveredJob<T>[] = [];
  private readonly retryTimers = new Map<NodeJS.Timeout, DeliveredJob<T>>();
  private readonly itemSignal = new AbortController();
  private process?: JobProcessor<T>;
  private policy?: WorkerPolicy<T>;
  private lanes: Promise<void>[] = [];
  private nextId = 0;
  private active = 0;
  private paused?: { promise: Promise<void>; resolve: () => void };
  private idle = new AbortController();
  private abandoned = false;
  private undelivered = 0;

  constructor(private readonly options: MemoryQueueBackendOptions<T>) {
    this.channel = new MemoryChannel<DeliveredJob<T>>({
      name: options.name,
      capacity: options.capacity,
      fullMode: options.fullMode,
      onDropped: (job) => options.onDropped(job.data, this.channel.fullMode as 'dropOldest' | 'dropNewest'),
    });
  }

  enqueue(data: T, signal?: AbortSignal): Promise<string> {
    const job: DeliveredJob<T> = { id: String(++this.nextId), data, attempt: 1 };
    try {
      if (!signal?.aborted && this.channel.tryWrite(job)) return Promise.resolve(job.id);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.channel.write(job, signal).then(() => job.id);
  }

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    this.process = process;
    this.policy = policy;
    for (let i = 0; i < policy.concurrency; i++) this.lanes.push(this.lane());
  }

  closeIntake(): void {
    this.channel.complete();
  }

  async stop(deadline: AbortSignal): Promise<{ undelivered: number }> {
    this.closeIntake();
    this.resume();
    let onDeadline!: () => void;
    const deadlinePassed = new Promise<void>((resolve) => {
      onDeadline = () => {
        this.abandon();
        resolve();
      };
    });
    if (deadline.aborted) onDeadline();
    else deadline.addEventListener('abort', onDeadline, { once: true });
    // Handlers that ignore their signal are abandoned at the deadline, not awaited for ever.
    await Promise.race([Promise.all(this.lanes), deadlinePassed]);
    deadline.removeEventListener('abort', onDeadline);
    return { undelivered: this.undelivered };
  }

  counts(): QueueCounts {
    return { depth: this.channel.size + this.retriesDue.length + this.retryTimers.size, inFlight: this.active };
  }

  pause(): void {
    if (this.paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.paused = { promise, resolve };
  }

  resume(): void {
    this.paused?.resolve();
    this.paused = undefined;
  }

  /** At the deadline: abort handlers in flight, and drop (and report) everything not yet delivered. */
  private abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.itemSignal.abort(new Error(`shutdown deadline passed while queue "${this.options.name}" was draining`));
    const left = [...this.channel.drain(), ...this.retriesDue.splice(0), ...this.retryTimers.values()];
    for (const timer of this.retryTimers.keys()) clearTimeout(timer);
    this.retryTimers.clear();
    this.undelivered = left.length;
    for (const job of left) this.options.onDropped(job.data, 'shutdown');
    this.idle.abort();
  }

  private async lane(): Promise<void> {
    for (;;) {
      if (this.abandoned) return;
      if (this.paused) await this.paused.promise;
      let job: DeliveredJob<T> | typeof CHANNEL_DONE;
      if (this.retriesDue.length > 0) job = this.retriesDue.shift()!;
      else if (this.channel.size > 0) job = this.channel.shift();
      else {
        try {
          job = await this.channel.read(this.idle.signal);
        } catch {
          continue; // woken up: a retry is due, or the deadline passed
        }
        if (job === CHANNEL_DONE) {
          if (this.retryTimers.size === 0 && this.retriesDue.length === 0) return;
          await this.waitForWakeUp();
          continue;
        }
      }
      // Delivery inline: a synchronous handler costs no promise, an asynchronous one a single await.
      this.active++;
      try {
        const pending = this.process!(job, this.itemSignal.signal);
        if (pending) await pending;
      } catch (error) {
        this.onNack(job, error);
      }
      this.active--;
    }
  }

  private onNack(job: DeliveredJob<T>, error: unknown): void {
    const policy = this.policy!;
    if (job.attempt >= policy.attempts || this.abandoned) {
      policy.onFailed(job, error);
      return;
    }
    const retry: DeliveredJob<T> = { id: job.id, data: job.data, attempt: job.attempt + 1 };
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.retriesDue.push(retry);
      this.wakeUp();
    }, retryDelayMs(policy.backoff, job.attempt));
    this.retryTimers.set(timer, retry);
  }

  private wakeUp(): void {
    this.idle.abort();
    this.idle = new AbortController();
  }

  private waitForWakeUp(): Promise<void> {
    const { signal } = this.idle;
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}
