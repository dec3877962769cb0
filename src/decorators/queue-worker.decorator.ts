import { QUEUE_WORKER_METADATA } from '../hosting.constants.js';
import { INVALID_WORKER_QUEUE, NOT_A_METHOD } from '../hosting.messages.js';
import { resolveWorkerOptions } from '../queues/queue-options.validation.js';
import type { QueueWorkerOptions } from '../interfaces/queue-options.interface.js';

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
 * Bad options throw a TypeError as the class is defined, naming class, method, option and value.
 *
 * @example
 * ```ts
 * @QueueWorker('emails', { concurrency: 4, attempts: 3, backoff: { type: 'exponential', delayMs: 500 } })
 * async send(job: EmailJob, ctx: JobContext) { await this.mailer.send(job, { signal: ctx.signal }); }
 * ```
 */
export function QueueWorker(queue: string, options: QueueWorkerOptions = {}) {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as { name: string };
    const isMethod = typeof target !== 'function' && typeof descriptor?.value === 'function';
    const ownerName = `${owner.name}.${String(methodName)}`;
    if (!isMethod) throw new TypeError(NOT_A_METHOD('@QueueWorker', ownerName));
    if (typeof queue !== 'string' || !queue) throw new TypeError(INVALID_WORKER_QUEUE(ownerName, queue));
    resolveWorkerOptions(ownerName, options); // fails now, as the class is defined
    const inherited: QueueWorkerMetadata[] = Reflect.getMetadata(QUEUE_WORKER_METADATA, owner) ?? [];
    const entry: QueueWorkerMetadata = { queue, methodName, isMethod, options };
    Reflect.defineMetadata(QUEUE_WORKER_METADATA, [...inherited, entry], owner);
  };
}
