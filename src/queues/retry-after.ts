import { INVALID_RETRY_AFTER } from '../hosting.messages.js';
import { isDuration } from '../validation/options-validator.js';
import { RateLimitedError } from './errors/rate-limited.error.js';

const RETRY_AFTER_RULE = { min: 1, max: 2 ** 31 - 1 };

/**
 * What a handler's failure says about rate limiting: undefined when it is not a `RateLimitedError`
 * (the class, or any error named `'RateLimitedError'` with a numeric `retryAfterMs`, as another copy
 * of the library throws), its `retryAfterMs` when that is valid (1 to 2^31−1 ms), else a TypeError
 * naming the value, for the try to fail with.
 */
export function retryAfterOf(error: unknown, queue: string, id: string): number | TypeError | undefined {
  if (!(error instanceof RateLimitedError)) {
    if (typeof error !== 'object' || error === null || (error as { name?: unknown }).name !== 'RateLimitedError') return undefined;
    if (typeof (error as { retryAfterMs?: unknown }).retryAfterMs !== 'number') return undefined;
  }
  const ms = (error as RateLimitedError).retryAfterMs;
  return isDuration(ms, RETRY_AFTER_RULE) ? ms : new TypeError(INVALID_RETRY_AFTER(queue, id, ms));
}
