const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const CONNECTION_MESSAGES =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|Stream isn't writeable|max retries per request|Command timed out|Redis is unreachable|^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN)\b/i;

/** True for errors that mean "Redis cannot be reached right now", as opposed to a bug or a bad command. */
export function isRedisConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  try {
    const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (name === 'ConnectionClosedError' || name === 'MaxRetriesPerRequestError') return true;
    return typeof message === 'string' && CONNECTION_MESSAGES.test(message);
  } catch {
    return false; // a getter that throws: not one of ioredis' errors
  }
}
