import { OPTIONAL_PACKAGE_MISSING } from './redis.messages.js';
import type { StoreName } from './store-name.js';

/** The `bullmq` module, loaded only by apps that use a Redis-backed feature. */
export type BullMqModule = typeof import('bullmq');
/** The ioredis client class. */
export type RedisClass = typeof import('ioredis').default;

let bullmq: Promise<BullMqModule> | undefined;
let ioredis: Promise<RedisClass> | undefined;

// A CommonJS package imported from ESM arrives as `{ default: module.exports, …named }`.
const interop = <M>(mod: unknown, probe: string): M =>
  ((mod as Record<string, unknown>)[probe] ? mod : (mod as { default: unknown }).default) as M;

/** Loads bullmq on first use; rejects with install guidance when it is missing (the packages `store` needs with it). */
export function loadBullMq(feature = 'The BullMQ queue backend', store: StoreName = 'Redis'): Promise<BullMqModule> {
  const loading = (bullmq ??= import('bullmq').then(
    (mod) => interop<BullMqModule>(mod, 'Worker'),
    (error: unknown) => {
      bullmq = undefined;
      throw error;
    },
  ));
  // Worded per call: a Redis queue and a PostgreSQL queue may wait on the same import.
  return loading.catch((error: unknown) => {
    throw new Error(OPTIONAL_PACKAGE_MISSING(feature, 'bullmq', error, store));
  });
}

/** Loads ioredis on first use; rejects with install guidance when it is missing. */
export function loadIoRedis(feature = 'Exclusive periodic tasks'): Promise<RedisClass> {
  ioredis ??= import('ioredis').then(
    (mod) => {
      const exports = mod as unknown as { Redis?: RedisClass; default?: RedisClass | { Redis?: RedisClass } };
      return (exports.Redis ?? (exports.default as { Redis?: RedisClass })?.Redis ?? exports.default) as RedisClass;
    },
    (error: unknown) => {
      ioredis = undefined;
      throw new Error(OPTIONAL_PACKAGE_MISSING(feature, 'ioredis', error));
    },
  );
  return ioredis;
}
