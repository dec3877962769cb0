import { OneCopy } from '../../one-copy.js';

/**
 * Thrown when an item is offered to a queue whose intake has closed, which happens once the host
 * starts shutting down. Items already queued still drain; only new ones are refused.
 *
 * @example
 * try {
 *   await emails.enqueue(job);
 * } catch (error) {
 *   if (error instanceof QueueClosedError) return; // shutting down: the caller decides what to do with `job`
 *   throw error;
 * }
 */
@OneCopy('QueueClosedError')
export class QueueClosedError extends Error {
  override readonly name = 'QueueClosedError';

  /** Creates the error for the queue called `queueName`. */
  constructor(readonly queueName: string) {
    super(`Queue "${queueName}" is closed: it no longer accepts items (the host is shutting down)`);
  }
}
