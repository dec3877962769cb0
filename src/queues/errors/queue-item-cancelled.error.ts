import { OneCopy } from '../../one-copy.js';

/**
 * The reason `ctx.signal` aborts when `WorkQueue.cancel(id)` cancelled a running item. A try that
 * then throws (or rejects) ends as cancelled: not retried, not a dead letter.
 */
@OneCopy('QueueItemCancelledError')
export class QueueItemCancelledError extends Error {
  override readonly name = 'QueueItemCancelledError';

  constructor(
    readonly queueName: string,
    readonly itemId: string,
  ) {
    super(`Queue "${queueName}": item ${itemId} was cancelled`);
  }
}
