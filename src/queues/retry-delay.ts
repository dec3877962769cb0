import type { BackoffOptions } from '../interfaces/queue-options.interface.js';

/** Delay before the retry that follows failed try number `attempt` (BullMQ's formula: delay · 2^(attempt−1)). */
export function retryDelayMs(backoff: BackoffOptions, attempt: number): number {
  return backoff.type === 'exponential' ? backoff.delayMs * 2 ** (attempt - 1) : backoff.delayMs;
}
