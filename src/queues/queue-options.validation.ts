import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { INVALID_QUEUE_OPTION, showValue } from '../hosting.messages.js';
import type { BackoffOptions, QueueOptions, QueueRateLimit, QueueWorkerOptions, RetentionOptions } from '../interfaces/queue-options.interface.js';
import { bindNumber, describeDuration, OptionsValidator } from '../validation/options-validator.js';
import { validateBullMqBackendOptions } from './bullmq/bullmq-options.validation.js';

const FULL_MODES = ['wait', 'dropOldest', 'dropNewest', 'reject'] as const;
const QUEUE_KEYS = ['name', 'capacity', 'fullMode', 'backend', 'onDropped', 'onFailed', 'deadLetters'] as const;
const MEMORY_ONLY = ['capacity', 'fullMode', 'onDropped'] as const;
const WORKER_KEYS = ['concurrency', 'attempts', 'backoff', 'enabled', 'limiter', 'timeoutMs'] as const;
const LIMITER_KEYS = ['max', 'durationMs'] as const;
const RETENTION_KEYS = ['count', 'ageMs'] as const;
/** Timers and Redis expiries take whole milliseconds up to 2^31−1. */
export const TIMER_RULE = { min: 1, max: MAX_TIMER_DELAY_MS } as const;
const BACKOFF_KEYS = ['type', 'delayMs'] as const;
const BACKEND_EXPECTED = "'memory', 'bullmq' or { type: 'bullmq', connection }";

/** A positive integer a PostgreSQL `integer` holds (BullMQ's PostgreSQL backend keeps tries and the limiter's max so). */
const isInteger32 = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= 2_147_483_647;
const INTEGER_32 = 'an integer from 1 to 2147483647';

/** Where `registerQueue` messages say the bad option was given. */
const registerQueueAt = (name: unknown) => `HostingModule.registerQueue(${showValue(name)})`;

/** The backend type a queue's options select. */
export function backendTypeOf(options: Pick<QueueOptions<unknown>, 'backend'>): 'memory' | 'bullmq' {
  const backend = options.backend;
  return (typeof backend === 'object' && backend !== null ? backend.type : backend) === 'bullmq' ? 'bullmq' : 'memory';
}

/** Validates `registerQueue` options eagerly: a TypeError that names the queue, the option and the bad value. */
export function validateQueueOptions(options: QueueOptions<unknown>): void {
  const name = typeof options === 'object' && options !== null ? options.name : undefined;
  const check: OptionsValidator = OptionsValidator.for(registerQueueAt(name), options, QUEUE_KEYS);
  check.nonEmptyString('name');
  if (typeof options.name !== 'string') check.fail('name', 'a non-empty string');
  check.positiveInteger('capacity');
  check.oneOf('fullMode', FULL_MODES);
  check.func('onDropped');
  check.func('onFailed');
  if (options.deadLetters !== false) checkRetention(check, 'deadLetters');
  const backend = options.backend;
  if (backend === undefined || backend === 'memory' || backend === 'bullmq') {
    // a plain backend name
  } else if (typeof backend === 'object' && backend !== null && !Array.isArray(backend)) {
    const type = (backend as { type?: unknown }).type;
    if (type === 'memory') check.nested('backend', ['type']);
    else if (type !== 'bullmq') check.fail('backend', BACKEND_EXPECTED);
    else validateBullMqBackendOptions(options.name, backend);
  } else {
    check.fail('backend', BACKEND_EXPECTED);
  }
  if (backendTypeOf(options) === 'bullmq')
    for (const key of MEMORY_ONLY)
      if (options[key] !== undefined) check.fail(key, "unset on a 'bullmq' queue (it applies to the memory backend only)");
}

/** What a 'bullmq' queue without a store of its own needs. */
export const MISSING_CONNECTION =
  "given a connection (Redis) or postgres (PostgreSQL), or HostingModule.forRoot({ redis }) or forRoot({ postgres }) set, for 'bullmq'";

/** Throws the `registerQueue` error for a backend that needs a connection it was not given. */
export function missingConnection(options: QueueOptions<unknown>): never {
  throw new TypeError(INVALID_QUEUE_OPTION(options.name, 'backend', MISSING_CONNECTION, options.backend));
}

/** Checks a `{ count, ageMs }` retention option (unset is fine): each a positive integer / a duration from 1 ms. */
export function checkRetention(check: OptionsValidator, key: string): RetentionOptions | undefined {
  if (check.get(key) === undefined) return undefined;
  const nested = check.nested(key, RETENTION_KEYS);
  const count = nested.positiveInteger('count');
  const ageMs = nested.duration('ageMs', { min: 1 });
  return { ...(count !== undefined && { count }), ...(ageMs !== undefined && { ageMs }) };
}

/** `@QueueWorker` options with their defaults filled in (`limiter` and `timeoutMs` stay unset when not given). */
export type ResolvedWorkerOptions = Required<Omit<QueueWorkerOptions, 'limiter' | 'timeoutMs'>> & Pick<QueueWorkerOptions, 'limiter' | 'timeoutMs'>;

/** Checks a `backoff` option (`{ type, delayMs }`) of `check`, or unset. */
export function checkBackoff(check: OptionsValidator): BackoffOptions | undefined {
  if (check.get('backoff') === undefined) return undefined;
  const backoffCheck: OptionsValidator = check.nested('backoff', BACKOFF_KEYS);
  const type = backoffCheck.oneOf('type', ['fixed', 'exponential'] as const);
  if (type === undefined) backoffCheck.fail('type', "one of 'fixed', 'exponential'");
  const delayMs = backoffCheck.duration('delayMs');
  if (delayMs === undefined) backoffCheck.fail('delayMs', describeDuration());
  return { type, delayMs };
}

/** Validates `@QueueWorker` options and fills in the defaults. */
export function resolveWorkerOptions(owner: string, options: QueueWorkerOptions): ResolvedWorkerOptions {
  const check: OptionsValidator = OptionsValidator.for(`@QueueWorker on ${owner}`, options, WORKER_KEYS);
  const concurrency = check.positiveInteger('concurrency') ?? 1;
  // BullMQ's PostgreSQL backend keeps tries and the limiter's max in integer columns: one bound for every backend.
  const attempts = check.check<number>('attempts', isInteger32, INTEGER_32, bindNumber) ?? 1;
  const enabled = check.boolean('enabled') ?? true;
  const backoff = checkBackoff(check) ?? { type: 'fixed', delayMs: 0 };
  const timeoutMs = check.duration('timeoutMs', TIMER_RULE);
  let limiter: QueueRateLimit | undefined;
  if (check.get('limiter') !== undefined) {
    const nested = check.nested('limiter', LIMITER_KEYS);
    const max = nested.check<number>('max', isInteger32, INTEGER_32, bindNumber) ?? nested.fail('max', INTEGER_32);
    // BullMQ keeps the window as a Redis expiry (PX): whole milliseconds.
    const durationMs = nested.check<number>('durationMs', (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TIMER_DELAY_MS, 'an integer number of milliseconds from 1 to 2147483647') ?? nested.fail('durationMs', 'an integer number of milliseconds from 1 to 2147483647');
    limiter = { max, durationMs };
  }
  return { concurrency, attempts, backoff, enabled, ...(limiter && { limiter }), ...(timeoutMs !== undefined && { timeoutMs }) };
}
