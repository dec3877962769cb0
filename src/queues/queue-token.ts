import { queueNameOf, type QueueDefinition } from './queue-definition.js';

/** The DI token of the `WorkQueue` named `queue` (a name, or a definition from `defineQueue`). */
export const getQueueToken = (queue: string | QueueDefinition<unknown>): string => `hosting:queue:${queueNameOf(queue)}`;
