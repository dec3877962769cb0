/**
 * Messages of the Redis-backed parts (BullMQ queues, exclusive periodic tasks), built in one
 * place so that the code, the tests and the docs quote one text.
 */
const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const OPTIONAL_PACKAGE_MISSING = (feature: string, pkg: string, error: unknown) =>
  `${feature} needs the optional package "${pkg}", which could not be loaded (${reason(error)}): ` +
  `install it next to nest-hosting with \`npm install bullmq ioredis\``;

export const INVALID_REDIS_CONNECTION = (owner: string, value: unknown) =>
  `${owner}: the Redis connection must be a redis:// URL, ioredis options ({ host, port, … }) or an ioredis instance, got ${
    value === null ? 'null' : typeof value
  }`;

export const REDIS_UNREACHABLE = (subject: string, error: unknown) =>
  `${subject}: Redis is unreachable (${reason(error)}); retrying with backoff until it is back`;

export const REDIS_RECOVERED = (subject: string, downMs: number) =>
  `${subject}: Redis is reachable again after ${downMs} ms`;

export const REDIS_ERROR = (subject: string, error: unknown) => `${subject}: Redis error: ${reason(error)}`;

export const EXCLUSIVE_TASK = (task: string) => `Exclusive periodic task "${task}"`;

export const EXCLUSIVE_TICK_SKIPPED = (subject: string, error: unknown) =>
  `${subject}: Redis is unreachable (${reason(error)}), so its ticks are skipped ` +
  `on this instance until it is back (an exclusive tick never runs unguarded)`;

export const EXCLUSIVE_LEASE_LOST = (task: string, error: unknown) =>
  `${EXCLUSIVE_TASK(task)}: could not renew its run lease (${reason(error)}); ` +
  `another instance may start the next tick before this run ends`;

export const QUEUE_UNAVAILABLE = (queue: string, error: unknown) =>
  `Queue "${queue}": the item was not added, Redis is unreachable (${reason(error)}); try again later`;

export const WORKER_NOT_STARTED = (queue: string) => `Queue "${queue}": the BullMQ worker could not start`;
