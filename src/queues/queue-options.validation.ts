import { INVALID_OPTION, INVALID_QUEUE_OPTION } from '../hosting.messages.js';
import type { QueueOptions, QueueWorkerOptions } from '../interfaces/queue-options.interface.js';

const FULL_MODES = ['wait', 'dropOldest', 'dropNewest', 'reject'];
const isPositiveInteger = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

/** Validates `registerQueue` options eagerly, with a TypeError that quotes the bad value. */
export function validateQueueOptions(options: QueueOptions<unknown>): void {
  const fail = (option: string, expected: string, value: unknown) => {
    throw new TypeError(INVALID_QUEUE_OPTION(options?.name, option, expected, value));
  };
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  if (typeof options.name !== 'string' || !options.name) fail('name', 'a non-empty string', options.name);
  if (options.capacity !== undefined && !isPositiveInteger(options.capacity)) fail('capacity', 'a positive integer', options.capacity);
  if (options.fullMode !== undefined && !FULL_MODES.includes(options.fullMode))
    fail('fullMode', FULL_MODES.map((m) => `'${m}'`).join(', '), options.fullMode);
  for (const hook of ['onDropped', 'onFailed'] as const)
    if (options[hook] !== undefined && typeof options[hook] !== 'function') fail(hook, 'a function', options[hook]);
  const backend = options.backend;
  const type = typeof backend === 'object' && backend !== null ? (backend as { type?: unknown }).type : backend;
  if (type !== undefined && type !== 'memory' && type !== 'bullmq') fail('backend', "'memory', 'bullmq' or { type: 'bullmq', connection }", backend);
  if (type === 'bullmq' && typeof backend === 'object' && backend !== null)
    for (const key of ['lockDurationMs', 'stalledIntervalMs'] as const) {
      const value = (backend as Record<string, unknown>)[key];
      if (value !== undefined && !isPositiveInteger(value)) fail(`backend.${key}`, 'a positive integer number of milliseconds', value);
    }
}

/** Validates `@QueueWorker` options and fills in the defaults. */
export function resolveWorkerOptions(owner: string, options: QueueWorkerOptions): Required<QueueWorkerOptions> {
  const { concurrency = 1, attempts = 1, backoff = { type: 'fixed', delayMs: 0 } } = options;
  const fail = (option: string, expected: string, value: unknown) => {
    throw new TypeError(INVALID_OPTION('@QueueWorker', owner, option, expected, value));
  };
  if (!isPositiveInteger(concurrency)) fail('concurrency', 'a positive integer', concurrency);
  if (!isPositiveInteger(attempts)) fail('attempts', 'a positive integer', attempts);
  if (
    typeof backoff !== 'object' ||
    backoff === null ||
    (backoff.type !== 'fixed' && backoff.type !== 'exponential') ||
    !(typeof backoff.delayMs === 'number' && Number.isFinite(backoff.delayMs) && backoff.delayMs >= 0)
  )
    fail('backoff', `{ type: 'fixed' | 'exponential', delayMs: number >= 0 }`, backoff);
  return { concurrency, attempts, backoff };
}
