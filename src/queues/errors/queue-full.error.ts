import { OneCopy } from '../../one-copy.js';

/**
 * Thrown when an item is offered to a full queue whose `fullMode` is `'reject'`.
 *
 * @example
 * try {
 *   emails.tryWrite(job);
 * } catch (error) {
 *   if (error instanceof QueueFullError) return reply.status(503).send(); // shed load
 *   throw error;
 * }
 */
@OneCopy('QueueFullError')
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';

  /** Creates the error for the queue called `queueName`, which holds at most `capacity` items. */
  constructor(
    readonly queueName: string,
    readonly capacity: number,
  ) {
    super(
      `Queue "${queueName}" is full (capacity ${capacity}, fullMode 'reject'); ` +
        `use fullMode 'wait' to hold producers back until there is room, or raise the capacity`,
    );
  }
}
