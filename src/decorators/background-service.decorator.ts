import { Injectable, SetMetadata, applyDecorators } from '@nestjs/common';
import { BACKGROUND_SERVICE_METADATA } from '../hosting.constants.js';
import type { BackgroundServiceOptions } from '../interfaces/background-service-options.interface.js';

/**
 * Marks a provider as a long-running background service (.NET's BackgroundService): its
 * `execute(signal)` starts with the app without blocking start-up, and `signal` aborts when the
 * app stops. The class is also `@Injectable()`; list it in a module's `providers`.
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
export function BackgroundService(options: BackgroundServiceOptions = {}): ClassDecorator {
  return applyDecorators(Injectable(), SetMetadata(BACKGROUND_SERVICE_METADATA, options));
}
