import { QUEUE_EVENT_METADATA } from '../hosting.constants.js';
import { INVALID_QUEUE_ARGUMENT, NOT_A_METHOD } from '../hosting.messages.js';
import type { QueueEvent, QueueEventName } from '../interfaces/queue-options.interface.js';
import { queueNameOf, type QueueDefinition } from '../queues/queue-definition.js';
import { parseQueueEvents } from '../validation/queue-events.validation.js';

/** What `@OnQueueEvent` records (validated when the decorator is applied). */
export interface QueueEventMetadata {
  queue: string;
  events: readonly QueueEventName[];
  methodName: string | symbol;
}

/** A method `@OnQueueEvent` accepts: it receives each event; what it returns (a promise) is not awaited. */
export type QueueEventMethod = (event: QueueEvent) => unknown;

/** What `@OnQueueEvent(queue, event)` returns: a method decorator. */
export type QueueEventDecorator = <M extends QueueEventMethod>(target: object, methodName: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void;

/**
 * Calls the method with each of a queue's `event`s (one name or an array: `'completed'`, `'failed'`,
 * `'deadLettered'`, `'stalled'`, `'drained'`): on the memory backend this process's, on BullMQ the
 * whole cluster's (its QueueEvents). Subscribed when the application starts and released when it
 * stops; the provider must be a singleton. A method that throws or rejects is logged, and the queue
 * goes on. A bad queue or event name throws a TypeError as the class is defined (naming class,
 * method and value, with the closest event name); a queue that is not registered fails start-up.
 *
 * @example
 * ```ts
 * @OnQueueEvent(EMAILS, ['failed', 'deadLettered'])
 * alert(event: QueueEvent) { this.log.warn(`${event.queue} ${event.id}: ${event.error}`); }
 * ```
 */
export function OnQueueEvent(queue: string | QueueDefinition<unknown>, event: QueueEventName | QueueEventName[]): QueueEventDecorator {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as { name: string };
    const ownerName = `${owner.name}.${String(methodName)}`;
    const where = `@OnQueueEvent on ${ownerName}`;
    if (typeof target === 'function' || typeof descriptor?.value !== 'function') throw new TypeError(NOT_A_METHOD('@OnQueueEvent', ownerName));
    const name = queueNameOf(queue as unknown);
    if (typeof name !== 'string' || !name) throw new TypeError(INVALID_QUEUE_ARGUMENT(where, queue));
    const events = parseQueueEvents(where, event, false)!;
    const inherited = (Reflect.getMetadata(QUEUE_EVENT_METADATA, owner) as QueueEventMetadata[] | undefined) ?? [];
    Reflect.defineMetadata(QUEUE_EVENT_METADATA, [...inherited, { queue: name, events, methodName }], owner);
  };
}
