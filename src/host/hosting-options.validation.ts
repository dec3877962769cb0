import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../hosting.constants.js';
import { assertRedisConnection } from '../distributed/redis-connection.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import { ERROR_BEHAVIORS } from '../validation/background-service-options.validation.js';
import { OptionsValidator } from '../validation/options-validator.js';

const HOSTING_KEYS = ['shutdownTimeoutMs', 'onServiceError', 'exitAfterSignal', 'redis'] as const;

/** `HostingOptions` with their defaults applied. */
export interface ResolvedHostingOptions {
  shutdownTimeoutMs: number;
}

/**
 * Validates `HostingModule.forRoot` options (or what a `forRootAsync` factory returned): a
 * TypeError naming the option and the value; unknown keys refused with the closest known one.
 * `extraKeys`: keys the entry point itself consumes (`isGlobal`).
 */
export function validateHostingOptions(options: HostingOptions | undefined, extraKeys: readonly string[] = []): ResolvedHostingOptions {
  const check = OptionsValidator.for('HostingModule.forRoot', options, [...HOSTING_KEYS, ...extraKeys]);
  const shutdownTimeoutMs = check.duration('shutdownTimeoutMs') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  check.oneOf('onServiceError', ERROR_BEHAVIORS);
  check.boolean('exitAfterSignal');
  if (extraKeys.includes('isGlobal')) check.boolean('isGlobal');
  if (options?.redis !== undefined) assertRedisConnection('HostingModule.forRoot({ redis })', options.redis);
  return { shutdownTimeoutMs };
}
