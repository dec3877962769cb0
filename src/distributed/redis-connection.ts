import { showValue } from '../hosting.messages.js';
import type { ConnectionOptions } from '../interfaces/redis-connection.interface.js';
import {
  INVALID_REDIS_CONNECTION,
  REDIS_CONNECTION_WRONG_TYPE,
  REDIS_OPTION_INVALID,
  REDIS_OPTION_KEY_PREFIX,
  REDIS_URL_BAD_DB,
  REDIS_URL_BAD_PORT,
  REDIS_URL_BAD_SCHEME,
  REDIS_URL_EMPTY,
  REDIS_URL_NO_HOST,
  REDIS_URL_SOCKET_PATH,
  REDIS_URL_UNPARSABLE,
} from './redis.messages.js';

/** The part of an ioredis client (or Cluster) that tells it apart from plain options. */
export interface RedisClientLike {
  connect(): unknown;
  disconnect(): unknown;
  duplicate(...args: unknown[]): unknown;
  options?: Record<string, unknown>;
}

/** ioredis options, and the URL they came from when the connection was given as one. */
export interface RedisClientOptions {
  url?: string;
  options: Record<string, unknown>;
}

/** True for an ioredis instance (the structural test BullMQ itself uses). */
export function isRedisClient(value: unknown): value is RedisClientLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    ['connect', 'disconnect', 'duplicate'].every((fn) => typeof (value as Record<string, unknown>)[fn] === 'function')
  );
}

/**
 * Reconnect delays of the clients this library creates: 250 ms doubling to 5 s, for ever. A client
 * never gives up (no crash loop, recovery when Redis is back), and a long outage costs one
 * attempt every 5 s.
 */
export const reconnectDelayMs = (attempt: number): number => Math.min(250 * 2 ** Math.min(attempt - 1, 10), 5_000);

/**
 * Turns `HostingOptions.redis` or a queue's `connection` (URL or options) into ioredis options:
 * `defaults` (and the library's reconnect backoff) under what the user gave, `overrides` over it.
 * Options that carry a `url` (BullMQ accepts `{ url, …options }`) are split into both.
 * Instances are not accepted here: callers decide how to share them.
 */
export function toRedisClientOptions(
  owner: string,
  connection: ConnectionOptions,
  overrides: Record<string, unknown> = {},
  defaults: Record<string, unknown> = {},
): RedisClientOptions {
  assertRedisConnection(owner, connection);
  const base = { retryStrategy: reconnectDelayMs, ...defaults };
  if (typeof connection === 'string') return { url: connection, options: { ...base, ...overrides } };
  if (isRedisClient(connection)) throw new TypeError(INVALID_REDIS_CONNECTION(owner, REDIS_CONNECTION_WRONG_TYPE('an ioredis instance where options were expected')));
  const { url, ...options } = connection as Record<string, unknown>;
  return {
    ...(typeof url === 'string' && { url }),
    options: { ...base, ...options, ...overrides },
  };
}

/**
 * Checks a Redis connection eagerly, so a typo fails at start-up with its owner named instead of
 * failing at the first command (or, for BullMQ, spinning): a URL must parse, use redis: or rediss:,
 * carry a port from 1 to 65535 and a database that is a non-negative integer; options must have a
 * string `host`, an integer `port` from 1 to 65535, a string `path`, a non-negative integer `db`.
 * An ioredis instance is accepted as it is (the app configured and owns it). Passwords in URLs
 * are masked in messages.
 *
 * @param owner Who takes the connection, as messages name it: `HostingModule.forRoot({ redis })`,
 *   or `HostingModule.registerQueue("emails"): option "backend.connection"`.
 */
export function assertRedisConnection(owner: string, connection: unknown): asserts connection is ConnectionOptions {
  const problem = redisConnectionProblem(connection);
  if (problem !== undefined) throw new TypeError(INVALID_REDIS_CONNECTION(owner, problem));
}

/** What is wrong with a Redis connection value, or undefined when it is usable. */
export function redisConnectionProblem(connection: unknown): string | undefined {
  if (typeof connection === 'string') return urlProblem(connection);
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) return REDIS_CONNECTION_WRONG_TYPE(describe(connection));
  if (isRedisClient(connection)) return undefined;
  return optionsProblem(connection as Record<string, unknown>);
}

const PORT_RANGE = 'an integer from 1 to 65535';
const isDigits = (value: string): boolean => /^\d+$/.test(value);

/** A port as ioredis takes it: a number, or a string of digits (ioredis parses it). */
function isPort(value: unknown): boolean {
  const port = typeof value === 'string' && isDigits(value) ? Number(value) : value;
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535;
}

function isDatabase(value: unknown): boolean {
  const db = typeof value === 'string' && isDigits(value) ? Number(value) : value;
  return Number.isSafeInteger(db) && (db as number) >= 0;
}

function optionsProblem(options: Record<string, unknown>): string | undefined {
  // A password is never shown, whatever its type.
  const fail = (option: string, expected: string) =>
    REDIS_OPTION_INVALID(option, expected, option === 'password' ? `a value of type ${typeof options[option]}` : describe(options[option]));
  const { host, port, path, db, url, username, password } = options;
  if (url !== undefined) {
    if (typeof url !== 'string') return fail('url', 'a redis:// or rediss:// URL');
    const problem = urlProblem(url);
    if (problem) return problem;
  }
  if (host !== undefined && (typeof host !== 'string' || host.trim() === '')) return fail('host', 'a non-empty string (a host name or an IP address)');
  if (port !== undefined && !isPort(port)) return fail('port', `${PORT_RANGE} (the default is 6379)`);
  if (path !== undefined && (typeof path !== 'string' || path === '')) return fail('path', 'a non-empty string (the path of a Unix socket)');
  if (db !== undefined && !isDatabase(db)) return fail('db', 'a non-negative integer (the database number)');
  for (const [key, value] of [['username', username], ['password', password]] as const)
    if (value !== undefined && value !== null && typeof value !== 'string') return fail(key, 'a string');
  const sentinels = options.sentinels;
  if (sentinels !== undefined && sentinels !== null && (!Array.isArray(sentinels) || sentinels.length === 0))
    return fail('sentinels', 'a non-empty array of { host, port } (leave it out to connect to Redis directly)');
  if (options.keyPrefix !== undefined && options.keyPrefix !== '') return REDIS_OPTION_KEY_PREFIX();
  return undefined;
}

function urlProblem(url: string): string | undefined {
  if (url.trim() === '') return REDIS_URL_EMPTY();
  const shown = maskPassword(url);
  if (url.startsWith('/')) return REDIS_URL_SOCKET_PATH(url);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!scheme || !/^rediss?$/i.test(scheme[1]!)) {
    const suggestion = scheme ? undefined : /^[^\s/:@]+(:\d+)?(\/\d+)?$/.test(url) ? `redis://${url}` : undefined;
    return REDIS_URL_BAD_SCHEME(shown, suggestion);
  }
  // The authority as written, to name a bad port even when the URL parser gives up on it.
  const authority = /^[a-z]+:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?/i.exec(url);
  const writtenPort = authority?.[2];
  if (writtenPort !== undefined && writtenPort !== '' && !isPort(writtenPort)) return REDIS_URL_BAD_PORT(shown, writtenPort);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDIS_URL_UNPARSABLE(shown);
  }
  if (!parsed.hostname) return REDIS_URL_NO_HOST(shown);
  if (parsed.port !== '' && !isPort(parsed.port)) return REDIS_URL_BAD_PORT(shown, parsed.port);
  const db = parsed.pathname.length > 1 ? parsed.pathname.slice(1) : parsed.searchParams.get('db');
  if (db !== null && db !== '' && !isDigits(db)) return REDIS_URL_BAD_DB(shown, decodeURIComponent(db));
  return undefined;
}

/** The URL with its password replaced by `***`, for messages and logs. */
export function maskPassword(url: string): string {
  return url.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^:@/?#]*:)[^@/?#]*@/i, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array ${showValue(value)}`;
  if (typeof value === 'object') return showValue(value);
  return `${typeof value} ${showValue(value)}`;
}
