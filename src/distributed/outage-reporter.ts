import type { LoggerService } from '@nestjs/common';
import { REDIS_OUTAGE, type OutageMessages } from './connection-monitor.js';
import { ErrorLogThrottle } from './error-log-throttle.js';
import { isPostgresConnectionError, POSTGRES_OUTAGE, postgresWorded } from './postgres-outage.js';
import { isRedisConnectionError } from './redis-outage-reporter.js';
import type { StoreName } from './store-name.js';

/** How each store's outages are told from other errors, and worded. */
const STORES: Record<
  StoreName,
  { isConnectionError: (error: unknown) => boolean; outage: OutageMessages; errorLogger: (logger: LoggerService, subject: string) => LoggerService }
> = {
  Redis: { isConnectionError: isRedisConnectionError, outage: REDIS_OUTAGE, errorLogger: (logger) => logger },
  PostgreSQL: { isConnectionError: isPostgresConnectionError, outage: POSTGRES_OUTAGE, errorLogger: postgresWorded },
};

/**
 * Logs an outage of `store` once, when it starts, and once more when the store is back, however
 * many failed calls happen in between (`<subject>: Redis is unreachable (…)`, `… PostgreSQL is
 * reachable again after N ms`; `messages` words them otherwise). Other errors are logged at a
 * bounded rate (`ErrorLogThrottle`, `<subject>: PostgreSQL error: …`).
 */
export class OutageReporter {
  private downSince?: number;
  private readonly errors: ErrorLogThrottle;
  private readonly isConnectionError: (error: unknown) => boolean;
  private readonly messages: OutageMessages;

  constructor(
    private readonly logger: LoggerService,
    /** Who is affected, e.g. `Exclusive periodic task "report"`. */
    private readonly subject: string,
    store: StoreName,
    /** The lines of an outage, when not the store's own (`REDIS_OUTAGE`, `POSTGRES_OUTAGE`). */
    messages: Partial<OutageMessages> = {},
  ) {
    const words = STORES[store];
    this.isConnectionError = words.isConnectionError;
    this.messages = { ...words.outage, ...messages };
    this.errors = new ErrorLogThrottle(words.errorLogger(logger, subject), subject);
  }

  /** True between the first connection error and the next sign of life. */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Reports an error; returns true when it was a connection error (part of an outage). */
  error(error: unknown): boolean {
    if (!this.isConnectionError(error)) {
      this.errors.report(error);
      return false;
    }
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.logger.error(this.messages.unreachable(this.subject, error));
    }
    return true;
  }

  /** Reports a sign of life (a connection became ready, a call succeeded). */
  recovered(): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.logger.log(this.messages.recovered(this.subject, downMs));
  }
}
