import { OneCopy } from '../../one-copy.js';

/**
 * Thrown by a queue worker to say "rate limited upstream, try again after `retryAfterMs`" (an HTTP
 * 429): the item goes back to the head of its queue without using up a try, and the queue delivers
 * nothing for `retryAfterMs` (on BullMQ, on every process of the queue).
 *
 * @example
 * ```ts
 * const res = await fetch(url, { signal: ctx.signal });
 * if (res.status === 429) throw new RateLimitedError(Number(res.headers.get('retry-after') ?? 1) * 1000);
 * ```
 */
@OneCopy('RateLimitedError')
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';

  /** `retryAfterMs`: how long the queue waits before it delivers again, from 1 to 2^31−1 ms. */
  constructor(readonly retryAfterMs: number) {
    super(`Rate limited: the queue delivers again in ${retryAfterMs} ms`);
  }
}
