import type { ConnectionOptions } from '../interfaces/redis-connection.interface.js';
import { INVALID_REDIS_CONNECTION } from './redis.messages.js';

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
 * Instances are not accepted here: callers decide how to share them.
 */
export function toRedisClientOptions(
  owner: string,
  connection: ConnectionOptions,
  overrides: Record<string, unknown> = {},
  defaults: Record<string, unknown> = {},
): RedisClientOptions {
  const base = { retryStrategy: reconnectDelayMs, ...defaults };
  if (typeof connection === 'string') {
    if (!connection) throw new TypeError(INVALID_REDIS_CONNECTION(owner, connection));
    return { url: connection, options: { ...base, ...overrides } };
  }
  if (typeof connection !== 'object' || connection === null || isRedisClient(connection))
    throw new TypeError(INVALID_REDIS_CONNECTION(owner, connection));
  return { options: { ...base, ...connection, ...overrides } };
}

/** Checks a connection eagerly, so a typo fails at start-up with the owner named. */
export function assertRedisConnection(owner: string, connection: unknown): asserts connection is ConnectionOptions {
  const ok = (typeof connection === 'string' && connection.length > 0) || (typeof connection === 'object' && connection !== null);
  if (!ok) throw new TypeError(INVALID_REDIS_CONNECTION(owner, connection));
}
