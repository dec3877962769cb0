import { MAX_DURATION_MS } from '../hosting.constants.js';
import type { BackoffOptions } from '../interfaces/queue-options.interface.js';

/**
 * Delay before the retry that follows failed try number `attempt` (BullMQ's formula: delay · 2^(attempt−1)),
 * capped at `MAX_DURATION_MS`: a long exponential series never overflows into an immediate retry.
 */
export function retryDelayMs(backoff: BackoffOptions, attempt: number): number {
  const delayMs = backoff.type === 'exponential' ? backoff.delayMs * 2 ** (attempt - 1) : backoff.delayMs;
  return Math.min(delayMs, MAX_DURATION_MS);
}
