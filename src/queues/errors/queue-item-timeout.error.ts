import { OneCopy } from '../../one-copy.js';

/**
 * The reason `ctx.signal` aborts when a try ran past its `timeoutMs`, and the error that try fails
 * with (retried per `attempts` like any failure).
 */
@OneCopy('QueueItemTimeoutError')
export class QueueItemTimeoutError extends Error {
  override readonly name = 'QueueItemTimeoutError';

  constructor(
    readonly queueName: string,
    readonly itemId: string,
    readonly timeoutMs: number,
  ) {
    super(`Queue "${queueName}": item ${itemId} ran past its timeoutMs (${timeoutMs} ms); its try failed and its signal was aborted`);
  }
}
