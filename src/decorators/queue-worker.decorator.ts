import { QUEUE_WORKER_METADATA } from '../hosting.constants.js';
import type { QueueWorkerOptions } from '../interfaces/queue-options.interface.js';

/** What `@QueueWorker` records; validated at start-up, where errors can name the class and method. */
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
 *
 * @example
 * ```ts
 * @QueueWorker('emails', { concurrency: 4, attempts: 3, backoff: { type: 'exponential', delayMs: 500 } })
 * async send(job: EmailJob, ctx: JobContext) { await this.mailer.send(job, { signal: ctx.signal }); }
 * ```
 */
export function QueueWorker(queue: string, options: QueueWorkerOptions = {}) {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as object;
    const inherited: QueueWorkerMetadata[] = Reflect.getMetadata(QUEUE_WORKER_METADATA, owner) ?? [];
    const entry: QueueWorkerMetadata = {
      queue,
      methodName,
      isMethod: typeof target !== 'function' && typeof descriptor?.value === 'function',
      options,
    };
    Reflect.defineMetadata(QUEUE_WORKER_METADATA, [...inherited, entry], owner);
  };
}
