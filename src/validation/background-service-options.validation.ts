import { DEFAULT_MAX_RESTARTS, DEFAULT_MAX_RESTART_DELAY_MS, DEFAULT_RESTART_DELAY_MS } from '../hosting.constants.js';
import type { BackgroundServiceOptions, RestartPolicy } from '../interfaces/background-service-options.interface.js';
import type { ServiceErrorBehavior } from '../interfaces/hosting-options.interface.js';
import { describeDuration, OptionsValidator } from './options-validator.js';

/** The failure policies of background services. */
export const ERROR_BEHAVIORS: readonly ServiceErrorBehavior[] = ['stopHost', 'ignore', 'restart'];
const SERVICE_KEYS = ['name', 'onError', 'restart', 'enabled'] as const;
const RESTART_KEYS = ['maxRestarts', 'initialDelayMs', 'maxDelayMs'] as const;

/** `@BackgroundService` options, validated, with the restart policy's defaults applied. */
export interface ValidBackgroundServiceOptions {
  name?: string;
  onError?: ServiceErrorBehavior;
  restart: Required<RestartPolicy>;
  enabled?: boolean;
}

/**
 * Validates `@BackgroundService` options for the class `className`: a TypeError naming the class,
 * the option and the value. A restart policy that would restart a failing service in a hot loop
 * (a zero or NaN delay) is refused; `maxRestarts: Infinity` is allowed, with its backoff.
 */
export function validateBackgroundServiceOptions(
  className: string,
  options: BackgroundServiceOptions | undefined,
  /** Starts each message (a service added at run time: `HostingRegistry.addBackgroundService("name")`). */
  where = `@BackgroundService on ${className}`,
): ValidBackgroundServiceOptions {
  const check = OptionsValidator.for(where, options, SERVICE_KEYS);
  const name = check.nonEmptyString('name');
  const onError = check.oneOf('onError', ERROR_BEHAVIORS);
  const enabled = check.boolean('enabled');
  const restart = check.nested('restart', RESTART_KEYS);
  const maxRestarts =
    restart.check<number>('maxRestarts', (v) => v === Infinity || (Number.isSafeInteger(v) && (v as number) >= 0), 'an integer >= 0, or Infinity') ??
    DEFAULT_MAX_RESTARTS;
  const initialDelayMs = restart.duration('initialDelayMs', { min: 1 }) ?? DEFAULT_RESTART_DELAY_MS;
  const maxDelayMs = restart.duration('maxDelayMs', { min: 1 }) ?? Math.max(DEFAULT_MAX_RESTART_DELAY_MS, initialDelayMs);
  if (maxDelayMs < initialDelayMs) restart.fail('maxDelayMs', `${describeDuration({ min: initialDelayMs })} (at least initialDelayMs)`, maxDelayMs);
  return { name, onError, restart: { maxRestarts, initialDelayMs, maxDelayMs }, enabled };
}
