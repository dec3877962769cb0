import { INVALID_QUEUE_DEFINITION } from '../hosting.messages.js';
import type { WorkQueue } from './work-queue.js';

/**
 * A queue's name together with the type of its items, made by `defineQueue`. Give it to
 * `HostingModule.registerQueue`, `@InjectQueue` and `@QueueWorker` instead of the bare name:
 * the worker method's item parameter and `WorkQueue.enqueue` are then checked against `T`.
 *
 * @typeParam T - the type of the queue's items
 */
export interface QueueDefinition<T = unknown> {
  /** The queue's name. */
  readonly name: string;
  /**
   * Type-level only, never set: carries `T` so that the compiler can check the worker method and
   * the injected `WorkQueue` against it.
   */
  readonly __itemType?: T;
}

/** The item type of a queue definition: `QueueItemOf<typeof EMAILS>` is `EmailJob`. */
export type QueueItemOf<D extends QueueDefinition<unknown>> = D extends QueueDefinition<infer T> ? T : never;

/**
 * The injected type of a queue definition: `QueueOf<typeof EMAILS>` is `WorkQueue<EmailJob>`.
 * Use it on the parameter of `@InjectQueue(EMAILS)`: a parameter decorator cannot see (nor check)
 * the type of the parameter it decorates.
 */
export type QueueOf<D extends QueueDefinition<unknown>> = WorkQueue<QueueItemOf<D>>;

/**
 * Declares a queue once, with its item type, for `registerQueue`, `@InjectQueue` and `@QueueWorker`.
 * The name must be a non-empty string (a TypeError otherwise, naming the value).
 *
 * @example
 * ```ts
 * export const EMAILS = defineQueue<EmailJob>('emails');
 * HostingModule.registerQueue(EMAILS, { capacity: 100 });
 * constructor(@InjectQueue(EMAILS) private readonly emails: QueueOf<typeof EMAILS>) {}
 * ```
 */
export function defineQueue<T>(name: string): QueueDefinition<T> {
  if (typeof name !== 'string' || name === '') throw new TypeError(INVALID_QUEUE_DEFINITION(name));
  return Object.freeze({ name });
}

/** True for the result of `defineQueue` (an object with a string `name`), as opposed to a bare name. */
export const isQueueDefinition = (value: unknown): value is QueueDefinition<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string';

/** The name a queue argument (a bare name or a definition) stands for; anything else (from JavaScript) is returned as it is, for the caller to refuse. */
export function queueNameOf(queue: string | QueueDefinition<unknown>): string;
export function queueNameOf(queue: unknown): unknown;
export function queueNameOf(queue: unknown): unknown {
  return isQueueDefinition(queue) ? queue.name : queue;
}
