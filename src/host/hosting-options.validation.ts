import { DEFAULT_SHUTDOWN_TIMEOUT_MS, MAX_STALE_AFTER_PERIODS } from '../hosting.constants.js';
import { assertPostgresConnection } from '../distributed/postgres-connection.js';
import { assertRedisConnection } from '../distributed/redis-connection.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import { validateOutboxOptions } from '../outbox/outbox-options.validation.js';
import { ERROR_BEHAVIORS } from '../validation/background-service-options.validation.js';
import { bindBoolean, bindNumber, OptionsValidator, type OptionsSource } from '../validation/options-validator.js';

const HOSTING_KEYS = ['shutdownTimeoutMs', 'onServiceError', 'exitAfterSignal', 'redis', 'postgres', 'timeProvider', 'enabled', 'interceptors', 'staleAfterPeriods', 'spreadMs', 'outbox'] as const;
const ENABLED_KEYS = ['periodic', 'delayed', 'background', 'queueWorkers'] as const;
const TIME_PROVIDER_METHODS = ['now', 'monotonic', 'setTimeout', 'onWallClockJump'] as const;
const isTimeProvider = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && TIME_PROVIDER_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');

/** `staleAfterPeriods`: a positive integer up to `MAX_STALE_AFTER_PERIODS`, or false. */
const isStaleAfterPeriods = (value: unknown): boolean =>
  value === false || (Number.isSafeInteger(value) && (value as number) > 0 && (value as number) <= MAX_STALE_AFTER_PERIODS);
const bindStaleAfterPeriods = (value: unknown): unknown => bindBoolean(bindNumber(value));

/** `HostingOptions` with their defaults applied. */
export interface ResolvedHostingOptions {
  shutdownTimeoutMs: number;
}

/** Which entry point gave the options, and how their values are read. */
export interface HostingOptionsSource {
  /** As messages name it: `HostingModule.forRoot` or `HostingModule.forRootAsync`. */
  where?: string;
  /** `'configuration'` (a `forRootAsync` factory): numeric and boolean strings are bound. @default 'code' */
  source?: OptionsSource;
  /** Keys the entry point itself consumes (`isGlobal`). */
  extraKeys?: readonly string[];
}

/**
 * Validates `HostingModule.forRoot` options (or what a `forRootAsync` factory returned): a
 * TypeError naming the entry point, the option and the value; unknown keys refused with the
 * closest known one. Returns the options with configuration strings bound (`"30000"` → 30000,
 * `"false"` → false) when `source` is `'configuration'`, and the resolved values.
 */
export function bindHostingOptions(
  options: HostingOptions | undefined,
  { where = 'HostingModule.forRoot', source = 'code', extraKeys = [] }: HostingOptionsSource = {},
): { options: HostingOptions; resolved: ResolvedHostingOptions } {
  const check = OptionsValidator.for(where, options, [...HOSTING_KEYS, ...extraKeys], '', source);
  const bound: Record<string, unknown> = { ...options };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) bound[key] = value;
  };
  const shutdownTimeoutMs = check.duration('shutdownTimeoutMs');
  set('shutdownTimeoutMs', shutdownTimeoutMs);
  check.oneOf('onServiceError', ERROR_BEHAVIORS);
  set('exitAfterSignal', check.boolean('exitAfterSignal'));
  if (extraKeys.includes('isGlobal')) set('isGlobal', check.boolean('isGlobal'));
  if (options?.enabled !== undefined) {
    const enabled = check.nested('enabled', ENABLED_KEYS);
    bound.enabled = Object.fromEntries(ENABLED_KEYS.flatMap((key) => (enabled.get(key) === undefined ? [] : [[key, enabled.boolean(key)]])));
  }
  set('spreadMs', check.duration('spreadMs'));
  set('staleAfterPeriods', check.check('staleAfterPeriods', isStaleAfterPeriods, `a positive integer up to ${MAX_STALE_AFTER_PERIODS}, or false`, bindStaleAfterPeriods));
  check.check('timeProvider', isTimeProvider, `a TimeProvider (TimeProvider.system, TimeProvider.createSystem(…), a VirtualTime from 'nest-hosting/testing', or an object with ${TIME_PROVIDER_METHODS.join(', ')})`);
  if (options?.redis !== undefined) assertRedisConnection(`${where}({ redis })`, options.redis);
  if (options?.postgres !== undefined) assertPostgresConnection(`${where}({ postgres })`, options.postgres);
  if (options?.outbox !== undefined) bound.outbox = validateOutboxOptions(where, options.outbox, source, options);
  check.check(
    'interceptors',
    (value) => Array.isArray(value) && value.every((entry) => typeof entry === 'function' || (typeof entry === 'object' && entry !== null && typeof (entry as { intercept?: unknown }).intercept === 'function')),
    'an array of WorkInterceptor classes or instances (objects with an intercept(work, next) method)',
  );
  return { options: bound as HostingOptions, resolved: { shutdownTimeoutMs: shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS } };
}

/** Validates options written in code (`forRoot`); returns the resolved values. */
export function validateHostingOptions(options: HostingOptions | undefined, extraKeys: readonly string[] = []): ResolvedHostingOptions {
  return bindHostingOptions(options, { extraKeys }).resolved;
}
