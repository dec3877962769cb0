/** Waits with an end: BullMQ's close and Redis commands can wait for ever while Redis is down. */

/** Longest wait for a graceful close of connections before they are cut. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Longest wait for connections to be cut. */
const DISCONNECT_TIMEOUT_MS = 1_000;

/** `promise`, or a rejection with the signal's reason if it aborts first. */
export function raceAbort<R>(promise: Promise<R>, signal?: AbortSignal): Promise<R> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<R>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Waits (boundedly) for a BullMQ close, then cuts the connections: a close that failed or hung
 * while Redis was down (its QUIT cannot be sent) would leave ioredis reconnecting for ever and
 * keep the process alive. Disconnecting a closed connection does nothing. `cut: false` for a
 * connection the app shares with us (its ioredis instance): that one is the app's to close.
 */
export async function closeOrCut(target: { disconnect(): Promise<void> }, closing: Promise<unknown>, cut = true): Promise<void> {
  await settlesWithin(closing, CLOSE_TIMEOUT_MS);
  // `disconnect` waits for a first connection that may never come: bounded too.
  if (cut) await settlesWithin(target.disconnect().catch(() => undefined), DISCONNECT_TIMEOUT_MS);
}

/** True when `promise` settled within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([promise.then(() => true, () => true), timeout]);
  clearTimeout(timer);
  return settled;
}
