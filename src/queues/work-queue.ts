import type { EnqueueOptions } from '../interfaces/queue-options.interface.js';
import { OptionsValidator } from '../validation/options-validator.js';
import type { QueueBackend } from './queue-backend.interface.js';
import { OneCopy } from '../one-copy.js';
import type { WorkInterceptors } from '../interception/work-interceptors.js';

const ENQUEUE_KEYS = ['signal'] as const;
const isAbortSignal = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function';

/**
 * The producer side of a queue (.NET's ChannelWriter). Inject it with `@InjectQueue(name)`;
 * the same code runs on the memory and the BullMQ backend.
 *
 * @example
 * ```ts
 * await this.emails.enqueue({ orderId }, { signal: ctx.signal }); // waits for room when full
 * ```
 */
@OneCopy('WorkQueue')
export class WorkQueue<T = unknown> {
  /** Made by `HostingModule.registerQueue`, never by app code: inject it with `@InjectQueue`. */
  constructor(...madeByTheLibrary: never);
  /** @internal built by `HostingModule.registerQueue` */
  constructor(name: string, backend: QueueBackend<T>, interceptors?: WorkInterceptors);
  constructor(
    /** The queue's name. */
    readonly name: string,
    private readonly backend: QueueBackend<T>,
    private readonly interceptors?: WorkInterceptors,
  ) {}

  /**
   * Adds an item and resolves with its id once the queue accepted it. When a bounded memory queue
   * is full: `'wait'` waits for room (cancel with `signal`), `'reject'` rejects with
   * `QueueFullError`, the drop modes evict an item. After shutdown began: rejects with `QueueClosedError`.
   * Bad options reject with a TypeError naming the queue and the option.
   */
  enqueue(item: T, options?: EnqueueOptions): Promise<string> {
    if (options !== undefined) {
      try {
        const check = OptionsValidator.for(`WorkQueue.enqueue on queue "${this.name}"`, options, ENQUEUE_KEYS);
        check.check('signal', isAbortSignal, 'an AbortSignal');
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const signal = options?.signal;
    // Enqueue interceptors (a trace context, a request id) write headers that travel with the item.
    if (this.interceptors?.interceptsEnqueue) return this.interceptors.enqueue(this.name, item, (headers) => this.backend.enqueue(item, signal, headers));
    return this.backend.enqueue(item, signal);
  }

  /**
   * Resolves once every item enqueued so far has settled (processed, failed its last attempt, or
   * dropped), retries waiting out their backoff included; for tests and scripts, not request paths.
   * On virtual time a retry's backoff passes only as the test advances the clock: `await
   * time.advance(…)` first, or drain resolves once the backoff has been advanced past. Resolves at
   * once for a queue with no worker in this process, or a paused one (nothing would settle them).
   * On BullMQ it asks Redis every 50 ms.
   */
  drain(): Promise<void> {
    return this.backend.whenSettled?.(true) ?? Promise.resolve();
  }

  /** Items waiting (not yet handed to the worker). */
  get depth(): number {
    return this.backend.counts().depth;
  }
}
