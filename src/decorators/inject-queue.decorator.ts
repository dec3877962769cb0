import { Inject } from '@nestjs/common';
import { INVALID_QUEUE_ARGUMENT } from '../hosting.messages.js';
import { queueNameOf, type QueueDefinition } from '../queues/queue-definition.js';
import { getQueueToken } from '../queues/queue-token.js';

/**
 * Injects the `WorkQueue` registered with `HostingModule.registerQueue`, by definition (from
 * `defineQueue`) or by name. A parameter decorator cannot type its parameter: write it as
 * `QueueOf<typeof EMAILS>` (that is, `WorkQueue<EmailJob>`).
 *
 * @example
 * ```ts
 * constructor(@InjectQueue(EMAILS) private readonly emails: QueueOf<typeof EMAILS>) {}
 * ```
 */
export const InjectQueue = (queue: string | QueueDefinition<unknown>): ParameterDecorator & PropertyDecorator => {
  const name = queueNameOf(queue as unknown);
  if (typeof name !== 'string' || name === '') throw new TypeError(INVALID_QUEUE_ARGUMENT('@InjectQueue', queue));
  return Inject(getQueueToken(name));
};
