import { Injectable, SetMetadata, applyDecorators } from '@nestjs/common';
import { BACKGROUND_SERVICE_METADATA } from '../hosting.constants.js';
import { MISSING_EXECUTE } from '../hosting.messages.js';
import { validateBackgroundServiceOptions } from '../validation/background-service-options.validation.js';
import type { BackgroundServiceOptions } from '../interfaces/background-service-options.interface.js';

/**
 * A class `@BackgroundService()` accepts: its instances have `execute(signal: AbortSignal)` (no
 * parameter is fine too). Anything else is a compile error at the decorator.
 */
export type BackgroundServiceClass = abstract new (...args: never[]) => { execute: (signal: AbortSignal) => unknown };

/**
 * Marks a provider as a long-running background service (.NET's BackgroundService): its
 * `execute(signal)` starts with the app without blocking start-up, and `signal` aborts when the
 * app stops. The class is also `@Injectable()`; list it in a module's `providers`. A class without
 * `execute(signal)` does not compile; bad options (and, from JavaScript, a class without `execute`)
 * throw a TypeError as the class is defined, naming the class.
 *
 * @example
 * ```ts
 * @BackgroundService({ onError: 'restart' })
 * export class OutboxPump {
 *   async execute(signal: AbortSignal) {
 *     while (!signal.aborted) await this.pumpOnce(signal);
 *   }
 * }
 * ```
 */
export function BackgroundService(options: BackgroundServiceOptions = {}): <C extends BackgroundServiceClass>(target: C) => void {
  return (target) => {
    // Bad options fail now, as the class is defined, naming it.
    validateBackgroundServiceOptions(target.name, options);
    const execute = (target.prototype as { execute?: unknown }).execute;
    if (typeof execute !== 'function') throw new TypeError(MISSING_EXECUTE(target.name, execute));
    applyDecorators(Injectable(), SetMetadata(BACKGROUND_SERVICE_METADATA, options))(target);
  };
}
