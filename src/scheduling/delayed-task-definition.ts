import { INVALID_DELAY } from '../hosting.messages.js';
import type { DelayedTaskOptions } from '../interfaces/delayed-options.interface.js';
import { isDuration, OptionsValidator } from '../validation/options-validator.js';

/** A validated `@Delayed` task. */
export interface DelayedTaskDefinition {
  name: string;
  /** `ClassName.methodName`, for messages. */
  owner: string;
  /** Milliseconds after the host started. */
  delayMs: number;
  timeoutMs?: number;
  /** False: listed as disabled, never started. */
  enabled: boolean;
}

const DELAYED_KEYS = ['name', 'timeoutMs', 'enabled'] as const;

/**
 * Validates what `@Delayed` was given; throws a TypeError naming `@Delayed on owner`, the option
 * and the bad value (unknown keys with the closest known one).
 */
export function defineDelayedTask(owner: string, delayMs: unknown, options: DelayedTaskOptions = {}): DelayedTaskDefinition {
  const check = OptionsValidator.for(`@Delayed on ${owner}`, options, DELAYED_KEYS);
  if (!isDuration(delayMs)) throw new TypeError(INVALID_DELAY(owner, delayMs));
  const name = check.nonEmptyString('name');
  const timeoutMs = check.duration('timeoutMs', { min: 1 });
  const enabled = check.boolean('enabled');
  return { name: name ?? owner, owner, delayMs, timeoutMs, enabled: enabled ?? true };
}
