/**
 * Messages of the Redis-backed parts (BullMQ queues, exclusive periodic tasks), built in one
 * place so that the code, the tests and the docs quote one text.
 */
import { errorMessage } from '../errors/thrown-value.js';

const reason = (error: unknown): string => errorMessage(error);
const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** `store`: where the feature keeps its state (`Redis`, `PostgreSQL`), which names the packages to install. */
export const OPTIONAL_PACKAGE_MISSING = (feature: string, pkg: string, error: unknown, store = 'Redis') =>
  `${feature} needs the optional package "${pkg}", which could not be loaded (${reason(error)}): ` +
  `install it next to nest-hosting with \`npm install bullmq ${store === 'PostgreSQL' ? 'pg' : 'ioredis'}\``;

/** `<owner>: <problem>`; the owner is `HostingModule.forRoot({ redis })` or a queue's `option "backend.connection"`. */
export const INVALID_REDIS_CONNECTION = (owner: string, problem: string) => `${owner}: ${problem}`;

export const REDIS_CONNECTION_WRONG_TYPE = (shown: string) =>
  `the Redis connection must be a redis:// or rediss:// URL, ioredis options ({ host, port, … }) or an ioredis instance, got ${shown}`;

export const REDIS_URL_EMPTY = () =>
  `the Redis URL is an empty string; give one such as redis://127.0.0.1:6379 (redis://[user:password@]host[:port][/db])`;

export const REDIS_URL_SOCKET_PATH = (url: string) =>
  `"${url}" is a Unix socket path, not a URL; pass it as ioredis options: { path: ${JSON.stringify(url)} }`;

export const REDIS_URL_BAD_SCHEME = (url: string, suggestion: string | undefined) =>
  `the Redis URL "${url}" must start with redis:// (or rediss:// for TLS)` +
  (suggestion ? `; did you mean "${suggestion}"?` : '; write it as redis://[user:password@]host[:port][/db]');

export const REDIS_URL_BAD_PORT = (url: string, port: string) =>
  `the Redis URL "${url}" has port "${port}", which is not a port number; give an integer from 1 to 65535 (redis://host:6379), or leave it out for 6379`;

export const REDIS_URL_UNPARSABLE = (url: string) =>
  `the Redis URL "${url}" cannot be parsed; write it as redis://[user:password@]host[:port][/db], e.g. redis://127.0.0.1:6379/0`;

export const REDIS_URL_NO_HOST = (url: string) =>
  `the Redis URL "${url}" has no host; write it as redis://host[:port][/db], e.g. redis://127.0.0.1:6379`;

export const REDIS_URL_BAD_DB = (url: string, db: string) =>
  `the Redis URL "${url}" selects database "${db}", which is not a database number; give a non-negative integer (redis://host:6379/0)`;

export const REDIS_OPTION_INVALID = (option: string, expected: string, shown: string) =>
  `the Redis option "${option}" must be ${expected}, got ${shown}`;

export const REDIS_OPTION_KEY_PREFIX = () =>
  `the Redis option "keyPrefix" is not supported: BullMQ's scripts build their own keys, so an ioredis keyPrefix breaks them; use a queue's backend.prefix instead`;

export const REDIS_UNREACHABLE = (subject: string, error: unknown) =>
  `${subject}: Redis is unreachable (${reason(error)}); retrying with backoff until it is back`;

export const REDIS_RECOVERED = (subject: string, downMs: number) =>
  `${subject}: Redis is reachable again after ${downMs} ms`;

/** What a connection's status says when ioredis closed the socket without an error. */
export const REDIS_CONNECTION_LOST = () => 'the connection to Redis was closed; reconnecting';

export const REDIS_ERROR = (subject: string, error: unknown) => `${subject}: Redis error: ${reason(error)}`;

export const REDIS_ERROR_REPEATED = (subject: string, error: unknown, count: number, intervalMs: number) =>
  `${subject}: the same Redis error happened ${count} more ${count === 1 ? 'time' : 'times'} in the last ${seconds(intervalMs)}: ${reason(error)}`;

export const REDIS_CONNECTION_FAILED = (subject: string, error: unknown) =>
  `${subject}: the Redis connection cannot be made (${reason(error)}); this does not heal by retrying, ` +
  `so it is not retried: fix the connection options and restart the process`;

export const WORKER_SPINNING = (queue: string, count: number, windowMs: number, error: unknown, restartInMs: number) =>
  `Queue "${queue}" (bullmq) worker: stopped after ${count} errors within ${seconds(windowMs)}, which BullMQ retries without ` +
  `any delay (${reason(error)}); it restarts in ${seconds(restartInMs)} instead of spinning. Fix the cause in Redis ` +
  `(a replica instead of the primary, a key of the wrong type, …)`;

export const WORKER_SPINNING_STATUS = (count: number, error: unknown, restartAt: Date) =>
  `stopped after ${count} errors in a row (${reason(error)}); restarts at ${restartAt.toISOString()}`;

export const WORKER_RESTARTED = (queue: string) => `Queue "${queue}" (bullmq) worker: restarted after it was stopped for errors`;

export const EXCLUSIVE_TASK = (task: string) => `Exclusive periodic task "${task}"`;

/** The first skipped tick of an outage of the gate's store (`store`: `Redis`, `PostgreSQL`). */
export const EXCLUSIVE_TICK_SKIPPED = (subject: string, error: unknown, store = 'Redis') =>
  `${subject}: ${store} is unreachable (${reason(error)}), so its ticks are skipped ` +
  `on this instance until it is back (an exclusive tick never runs unguarded)`;

export const EXCLUSIVE_LEASE_LOST = (task: string, error: unknown) =>
  `${EXCLUSIVE_TASK(task)}: could not renew its run lease (${reason(error)}); ` +
  `another instance may start the next tick before this run ends`;

export const QUEUE_UNAVAILABLE = (queue: string, error: unknown) =>
  `Queue "${queue}": the item was not added, Redis is unreachable (${reason(error)}); try again later`;

export const ENQUEUE_TIMED_OUT = (timeoutMs: number, state: string) =>
  `Redis did not confirm the item within ${timeoutMs} ms (backend.enqueueTimeoutMs); the producer connection is ${state}`;

export const QUEUE_ENQUEUE_TIMED_OUT = (queue: string, timeoutMs: number, state: string) =>
  `Queue "${queue}": ${ENQUEUE_TIMED_OUT(timeoutMs, state)}, so the item was not added` +
  (state === 'up' ? ' unless Redis was only slow (then it was, and a retry adds it twice)' : '') +
  '; try again later';

export const ENQUEUE_CANCELLED_AT_SHUTDOWN = () => 'the host is shutting down and the producer connection is not up';

export const WORKER_NOT_STARTED = (queue: string) => `Queue "${queue}": the BullMQ worker could not start`;

export const PAYLOAD_NOT_JSON = (queue: string, path: string, problem: string, fix: string) =>
  `WorkQueue.enqueue on queue "${queue}" (bullmq): ${path} ${problem}. BullMQ stores items as JSON, so it would not ` +
  `reach the worker as it was given; ${fix}`;
