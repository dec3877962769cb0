/**
 * Start-up checks of a queue's `backend: { type: 'bullmq', … }` options. Kept apart from the
 * backend so that validating options never loads bullmq.
 */
import { MAX_TIMER_DELAY_MS } from '../../hosting.constants.js';
import { assertPostgresConnection } from '../../distributed/postgres-connection.js';
import { assertRedisConnection } from '../../distributed/redis-connection.js';
import { describeDuration } from '../../validation/options-validator.js';
import { OptionsValidator } from '../../validation/options-validator.js';

/** The keys of `BullMqBackendOptions`. */
export const BULLMQ_BACKEND_KEYS = [
  'type',
  'connection',
  'postgres',
  'prefix',
  'lockDurationMs',
  'stalledIntervalMs',
  'enqueueTimeoutMs',
  'telemetry',
  'removeOnComplete',
] as const;
const RETENTION_KEYS = ['count', 'ageMs'] as const;

/** How long `enqueue` waits for Redis to confirm an item before it rejects with `QueueUnavailableError`. */
export const DEFAULT_ENQUEUE_TIMEOUT_MS = 5_000;

/** `HostingModule.registerQueue("emails")`, as messages name a queue's options. */
export const queueOptionsOwner = (queueName: string): string => `HostingModule.registerQueue(${JSON.stringify(queueName)})`;

/** Who a queue's own connection belongs to, for `assertRedisConnection`. */
export const queueConnectionOwner = (queueName: string): string => `${queueOptionsOwner(queueName)}: option "backend.connection"`;

/** Who a queue's own PostgreSQL connection belongs to, for `assertPostgresConnection`. */
export const queuePostgresOwner = (queueName: string): string => `${queueOptionsOwner(queueName)}: option "backend.postgres"`;

const TIMER_RULE = { min: 1, max: MAX_TIMER_DELAY_MS };

const hasMethods = (value: unknown, names: readonly string[]): boolean =>
  typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
/** BullMQ's `Telemetry` shape: what its Queue and Worker call on it. */
const isBullMqTelemetry = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  hasMethods((value as Record<string, unknown>).tracer, ['startSpan']) &&
  hasMethods((value as Record<string, unknown>).contextManager, ['with', 'active', 'getMetadata', 'fromMetadata']);
const TELEMETRY = "BullMQ's Telemetry (a tracer with startSpan and a contextManager with with, active, getMetadata and fromMetadata), such as new BullMQOtel({ tracerName: 'my-app' }) from bullmq-otel";
// BullMQ sends these to Redis as PX arguments too, which take integers only: 1500.5 would fail every fetch.
const isTimerInteger = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_TIMER_DELAY_MS;
const TIMER_INTEGER = `an integer ${describeDuration(TIMER_RULE).replace(/^a number/, 'number')}`;

/**
 * Checks `HostingModule.registerQueue({ name, backend })` when `backend` is the BullMQ backend
 * (`'bullmq'` or `{ type: 'bullmq', … }`), and throws a `TypeError` naming the queue and the option:
 * unknown keys (with a "did you mean"), `prefix` a non-empty string, `lockDurationMs` and
 * `stalledIntervalMs` integers from 1 to 2^31−1 ms (BullMQ puts them in Node timers and in Redis
 * expiries), `enqueueTimeoutMs` from 1 to 2^31−1 ms, `connection` through `assertRedisConnection`,
 * `telemetry` of the shape of BullMQ's `Telemetry` (bullmq-otel's `BullMQOtel`), `removeOnComplete`
 * a boolean or `{ count, ageMs }` (a positive integer, a duration from 1 ms). Does not load bullmq.
 *
 * @example
 * ```ts
 * if (type === 'bullmq') validateBullMqBackendOptions(options.name, options.backend);
 * ```
 */
export function validateBullMqBackendOptions(queueName: string, backend: unknown): void {
  if (backend === 'bullmq') return;
  const check = OptionsValidator.for(queueOptionsOwner(queueName), backend, BULLMQ_BACKEND_KEYS, 'backend.');
  check.oneOf('type', ['bullmq'] as const);
  check.nonEmptyString('prefix');
  check.check('lockDurationMs', isTimerInteger, TIMER_INTEGER);
  check.check('stalledIntervalMs', isTimerInteger, TIMER_INTEGER);
  check.duration('enqueueTimeoutMs', TIMER_RULE);
  check.check('telemetry', isBullMqTelemetry, TELEMETRY);
  const removeOnComplete = check.get('removeOnComplete');
  if (removeOnComplete !== undefined && typeof removeOnComplete !== 'boolean') {
    if (typeof removeOnComplete !== 'object' || removeOnComplete === null || Array.isArray(removeOnComplete))
      check.fail('removeOnComplete', 'true, false or { count, ageMs }');
    const nested = check.nested('removeOnComplete', RETENTION_KEYS);
    nested.positiveInteger('count');
    nested.duration('ageMs', { min: 1 });
  }
  const connection = check.get('connection');
  if (connection !== undefined) assertRedisConnection(queueConnectionOwner(queueName), connection);
  const postgres = check.get('postgres');
  if (postgres !== undefined) {
    if (connection !== undefined) check.fail('postgres', 'left out when backend.connection (Redis) is given: a queue lives in one store');
    if (postgres !== true) assertPostgresConnection(queuePostgresOwner(queueName), postgres);
    if (check.get('prefix') !== undefined)
      check.fail('prefix', "left out with backend.postgres: BullMQ's PostgreSQL backend ignores it, the connection's schema is the namespace there (postgres: { connectionString, schema })");
  }
}
