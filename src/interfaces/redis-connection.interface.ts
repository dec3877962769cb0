/**
 * ioredis options (ioredis's `RedisOptions`, as BullMQ takes them), described structurally so that
 * type checking never needs ioredis installed: the options the library checks at start-up are typed
 * here; every other ioredis option passes through as given (see `ConnectionOptions`).
 */
export interface RedisConnectionOptions {
  /** Host name or IP address. @default 'localhost' */
  host?: string;
  /** TCP port, from 1 to 65535 (a string of digits, as configuration gives it, is read as the number). @default 6379 */
  port?: number | `${number}`;
  /** Path of a Unix socket, instead of `host` and `port`. */
  path?: string;
  /** A `redis://` or `rediss://` URL that the other options complete (BullMQ's `{ url, …options }`). */
  url?: string;
  username?: string;
  password?: string;
  /** Database number, a non-negative integer (or a string of digits). @default 0 */
  db?: number | `${number}`;
  /** TLS options (node's `tls.connect` options); a `rediss://` URL turns TLS on as well. */
  tls?: object;
  /** Sentinels to ask for the master named `name` (Redis Sentinel). */
  sentinels?: ReadonlyArray<{ host?: string; port?: number }>;
  /** The master's name, with `sentinels`. */
  name?: string;
}

/** An ioredis client (`new Redis(…)`, or a `Cluster`), which the app creates, configures and closes. */
export interface RedisClient {
  connect(): unknown;
  disconnect(): unknown;
  duplicate(...args: never[]): unknown;
}

/**
 * A Redis connection: a `redis://` or `rediss://` URL (`'redis://:secret@cache:6379/2'`), ioredis
 * options (a `RedisOptions` value, or an object literal with any other ioredis option beside the
 * typed ones), or an ioredis instance. URLs and options are checked at start-up (scheme, port,
 * db, …), naming where they were given.
 */
export type ConnectionOptions =
  | string
  | RedisConnectionOptions
  | (RedisConnectionOptions & { readonly [option: string]: unknown })
  | RedisClient;
