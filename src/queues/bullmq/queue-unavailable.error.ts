import { QUEUE_UNAVAILABLE } from '../../distributed/redis.messages.js';

/**
 * Thrown by `WorkQueue.enqueue` on a BullMQ queue when Redis cannot be reached: the item was not
 * added. Producers fail fast rather than wait (BullMQ's advice), so a request handler can answer
 * at once; workers, by contrast, wait and reconnect on their own.
 *
 * @example
 * try {
 *   await emails.enqueue(job);
 * } catch (error) {
 *   if (error instanceof QueueUnavailableError) return reply.status(503).send(); // Redis is down
 *   throw error;
 * }
 */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';

  /** Creates the error for the queue called `queueName`; `cause` is the Redis client's error. */
  constructor(
    readonly queueName: string,
    override readonly cause: unknown,
  ) {
    super(QUEUE_UNAVAILABLE(queueName, cause));
  }
}
