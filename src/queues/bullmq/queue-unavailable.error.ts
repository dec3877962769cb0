import { QUEUE_UNAVAILABLE } from '../../distributed/redis.messages.js';
import { OneCopy } from '../../one-copy.js';

/**
 * Thrown by `WorkQueue.enqueue` on a BullMQ queue when Redis cannot be reached: at once while the
 * producer connection is down, after `enqueueTimeoutMs` (default 5 s) when Redis does not confirm
 * the item, and at shutdown for an enqueue still waiting. Producers fail fast rather than wait
 * (BullMQ's advice), so a request handler can answer; workers, by contrast, reconnect on their own.
 *
 * @example
 * try {
 *   await emails.enqueue(job);
 * } catch (error) {
 *   if (error instanceof QueueUnavailableError) return reply.status(503).send(); // Redis is down
 *   throw error;
 * }
 */
@OneCopy('QueueUnavailableError')
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';

  /** Creates the error for the queue called `queueName`; `cause` is the Redis client's error (or the timeout). */
  constructor(
    readonly queueName: string,
    override readonly cause: unknown,
    message: string = QUEUE_UNAVAILABLE(queueName, cause),
  ) {
    super(message);
  }
}
