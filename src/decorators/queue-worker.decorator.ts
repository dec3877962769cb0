import { QUEUE_WORKER_METADATA } from '../hosting.constants.js';
import { INVALID_WORKER_QUEUE, NOT_A_METHOD } from '../hosting.messages.js';
import { resolveWorkerOptions } from '../queues/queue-options.validation.js';
import type { QueueWorkerOptions } from '../interfaces/queue-options.interface.js';
import type { JobContext } from '../queues/job-context.js';
import { queueNameOf, type QueueDefinition } from '../queues/queue-definition.js';

/**
 * A method `@QueueWorker` accepts for items of type `T`: `(item: T, ctx: JobContext) => unknown`
 * (fewer parameters are fine). With a bare queue name `T` is `never`: any item parameter goes.
 */
export type QueueWorkerMethod<T> = (item: T, ctx: JobContext) => unknown;

/** What `@QueueWorker(queue)` returns: a method decorator checking the method against `T`. */
export type QueueWorkerDecorator<T> = <M extends QueueWorkerMethod<T>>(
  target: object,
  methodName: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/** What `@QueueWorker` records (validated when the decorator is applied). */
export interface QueueWorkerMetadata {
  queue: string;
  methodName: string | symbol;
  isMethod: boolean;
  options: QueueWorkerOptions;
}

/**
 * Makes a method the worker of a queue: it receives each item with its `JobContext`; resolving
 * acknowledges the item, throwing retries it up to `attempts`. When the provider is request-scoped
 * (or depends on one), each item gets a fresh DI scope with the `JobContext` as the request.
 * Given a `defineQueue` definition, the method's item parameter is checked against the queue's
 * item type at compile time (with a bare name, `@QueueWorker<EmailJob>('emails')` does the same).
 * Bad options throw a TypeError as the class is defined, naming class, method, option and value.
 *
 * @example
 * ```ts
 * @QueueWorker(EMAILS, { concurrency: 4, attempts: 3, backoff: { type: 'exponential', delayMs: 500 } })
 * async send(job: EmailJob, ctx: JobContext) { await this.mailer.send(job, { signal: ctx.signal }); }
 * ```
 */
export function QueueWorker<T>(queue: QueueDefinition<T>, options?: QueueWorkerOptions): QueueWorkerDecorator<T>;
/** `@QueueWorker('emails')`: the queue by name; the item parameter is unchecked unless `T` is given (`@QueueWorker<EmailJob>('emails')`). */
export function QueueWorker<T = never>(queue: string, options?: QueueWorkerOptions): QueueWorkerDecorator<T>;
export function QueueWorker(queue: string | QueueDefinition<unknown>, options: QueueWorkerOptions = {}): QueueWorkerDecorator<never> {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as { name: string };
    const isMethod = typeof target !== 'function' && typeof descriptor?.value === 'function';
    const ownerName = `${owner.name}.${String(methodName)}`;
    if (!isMethod) throw new TypeError(NOT_A_METHOD('@QueueWorker', ownerName));
    const name = queueNameOf(queue as unknown);
    if (typeof name !== 'string' || !name) throw new TypeError(INVALID_WORKER_QUEUE(ownerName, queue));
    resolveWorkerOptions(ownerName, options); // fails now, as the class is defined
    const inherited = (Reflect.getMetadata(QUEUE_WORKER_METADATA, owner) as QueueWorkerMetadata[] | undefined) ?? [];
    const entry: QueueWorkerMetadata = { queue: name, methodName, isMethod, options };
    Reflect.defineMetadata(QUEUE_WORKER_METADATA, [...inherited, entry], owner);
  };
}
