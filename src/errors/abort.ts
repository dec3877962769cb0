/**
 * True when `error` is how work acknowledges that `signal` aborted: the signal's own reason, an
 * `AbortError` (what `fetch`, `timers/promises`, streams and `AbortSignal.throwIfAborted` throw),
 * or an error caused by the reason. Anything else thrown after the abort is a real failure.
 */
export function isAbortCaused(error: unknown, signal: AbortSignal): boolean {
  if (!signal.aborted) return false;
  if (error === signal.reason) return true;
  if (typeof error !== 'object' || error === null) return false;
  try {
    const { name, cause } = error as { name?: unknown; cause?: unknown };
    return name === 'AbortError' || (cause !== undefined && cause === signal.reason);
  } catch {
    return false;
  }
}
