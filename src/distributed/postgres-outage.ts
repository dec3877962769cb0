import type { LoggerService } from '@nestjs/common';
import type { OutageMessages } from './connection-monitor.js';
import { POSTGRES_RECOVERED, POSTGRES_UNREACHABLE } from './postgres.messages.js';

/** Socket errors of node-postgres' connections (Node's codes; ENOENT: a Unix socket path that is not there). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT']);
/**
 * SQLSTATEs that mean "the server cannot serve this session right now": class 08 (connection
 * exception, tested by pattern), the server shutting down (57P01 admin, 57P02 crash), starting up or
 * in recovery (57P03), too many connections (53300), and a statement or lock wait cut by a timeout
 * (57014 query_canceled, 55P03 lock_not_available: the server is too busy to answer in time).
 */
const SERVER_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '57014', '55P03']);
/** What node-postgres (and the library's own bounded waits) say when a connection is lost or cannot be made or answer in time. */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connection timeout|not queryable|connection error|Connection is closed|Query read timeout|ECONNREFUSED|ECONNRESET|the database system is (starting up|shutting down|in recovery mode)|PostgreSQL is unreachable|PostgreSQL did not answer/i;

/**
 * True for errors that mean "PostgreSQL cannot be reached right now" (a refused or lost connection,
 * a server shutting down, starting up or full), as opposed to a refused or wrong statement.
 */
export function isPostgresConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  try {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_UNAVAILABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    return typeof message === 'string' && CONNECTION_MESSAGES.test(message);
  } catch {
    return false; // a getter that throws: not one of node-postgres' errors
  }
}

/** The outage lines of a connection to PostgreSQL (`ConnectionMonitor`). */
export const POSTGRES_OUTAGE: OutageMessages = { unreachable: POSTGRES_UNREACHABLE, recovered: POSTGRES_RECOVERED };

/**
 * `ErrorLogThrottle` words its lines for Redis (`<subject>: Redis error: …`, `the same Redis error
 * happened N more times`); this logger passes everything to `logger`, with those words of lines
 * about `subject` said of PostgreSQL instead, so that a PostgreSQL-backed part can share the throttle.
 */
export function postgresWorded(logger: LoggerService, subject: string): LoggerService {
  const prefix = `${subject}: `;
  const reword = (message: unknown): unknown =>
    typeof message === 'string' && message.startsWith(prefix)
      ? prefix + message.slice(prefix.length).replace(/^Redis error: /, 'PostgreSQL error: ').replace(/^the same Redis error /, 'the same PostgreSQL error ')
      : message;
  return {
    log: (message: unknown, ...rest: unknown[]): void => void logger.log(reword(message), ...rest),
    error: (message: unknown, ...rest: unknown[]): void => void logger.error(reword(message), ...rest),
    warn: (message: unknown, ...rest: unknown[]): void => void logger.warn(reword(message), ...rest),
    debug: (message: unknown, ...rest: unknown[]): void => void logger.debug?.(reword(message), ...rest),
    verbose: (message: unknown, ...rest: unknown[]): void => void logger.verbose?.(reword(message), ...rest),
  };
}
