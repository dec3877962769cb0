import type { LoggerService } from '@nestjs/common';
import { ErrorLogThrottle } from './error-log-throttle.js';
import { REDIS_RECOVERED, REDIS_UNREACHABLE } from './redis.messages.js';

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

/**
 * Logs a Redis outage once, when it starts, and once more when Redis is back, however many
 * reconnect attempts and failed commands happen in between (ioredis reports every one).
 * Other errors are logged at a bounded rate (`ErrorLogThrottle`).
 */
export class RedisOutageReporter {
  private downSince?: number;
  private readonly errors: ErrorLogThrottle;

  constructor(
    private readonly logger: LoggerService,
    /** Who is affected, e.g. `Queue "emails" (bullmq)`. */
    private readonly subject: string,
    /** The message logged when an outage starts. */
    private readonly unreachable: (subject: string, error: unknown) => string = REDIS_UNREACHABLE,
  ) {
    this.errors = new ErrorLogThrottle(logger, subject);
  }

  /** True between the first connection error and the next sign of life. */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Reports an error; returns true when it was a connection error (part of an outage). */
  error(error: unknown): boolean {
    if (!isRedisConnectionError(error)) {
      this.errors.report(error);
      return false;
    }
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.logger.error(this.unreachable(this.subject, error));
    }
    return true;
  }

  /** Reports a sign of life (a connection became ready, a command succeeded). */
  recovered(): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.logger.log(REDIS_RECOVERED(this.subject, downMs));
  }
}
