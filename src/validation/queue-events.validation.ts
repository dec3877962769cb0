import { INVALID_QUEUE_EVENT, INVALID_QUEUE_EVENTS } from '../hosting.messages.js';
import type { QueueEventName } from '../interfaces/queue-options.interface.js';
import { closestKey } from './options-validator.js';

/** Every queue event, in the order the docs list them. */
export const QUEUE_EVENT_NAMES: readonly QueueEventName[] = Object.freeze(['completed', 'failed', 'deadLettered', 'stalled', 'drained']);

/**
 * The event names `value` asks for (`@OnQueueEvent`, `HostingRegistry.onQueueEvent`): one name or a
 * non-empty array of names, each once; with `all`, `'*'` (every event) gives undefined. A TypeError
 * names `where` and the bad value, with the closest event name for a typo.
 */
export function parseQueueEvents(where: string, value: unknown, all: boolean): readonly QueueEventName[] | undefined {
  if (all && value === '*') return undefined;
  const names = typeof value === 'string' ? [value] : Array.isArray(value) && value.length > 0 ? (value as unknown[]) : undefined;
  if (names === undefined) throw new TypeError(INVALID_QUEUE_EVENTS(where, value, QUEUE_EVENT_NAMES, all));
  for (const name of names) {
    if (typeof name !== 'string') throw new TypeError(INVALID_QUEUE_EVENTS(where, value, QUEUE_EVENT_NAMES, all));
    if (!QUEUE_EVENT_NAMES.includes(name as QueueEventName)) throw new TypeError(INVALID_QUEUE_EVENT(where, name, closestKey(name, QUEUE_EVENT_NAMES), QUEUE_EVENT_NAMES));
  }
  return [...new Set(names as QueueEventName[])];
}
