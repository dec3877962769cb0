import { NotFoundException } from '@nestjs/common';
import { UNKNOWN_SERVICE } from '../hosting.messages.js';
import { OneCopy } from '../one-copy.js';

/**
 * Thrown by `HostingRegistry.trigger`, `pause`, `resume`, `restart` and the queue methods
 * (`deadLetters`, `redrive`, `discard`, `cancel`, `onQueueEvent`) for a name no hosted unit has. It is a Nest `NotFoundException`, so an admin controller that lets it through answers 404.
 *
 * @example
 * ```ts
 * try {
 *   await this.registry.trigger(name);
 * } catch (error) {
 *   if (error instanceof UnknownServiceError) console.warn(error.serviceName, 'is not one of', error.known);
 *   throw error;
 * }
 * ```
 */
@OneCopy('UnknownServiceError')
export class UnknownServiceError extends NotFoundException {
  override readonly name = 'UnknownServiceError';

  /** Creates the error for `method` called with `serviceName`; `known` lists the names that exist. */
  constructor(
    readonly method: string,
    readonly serviceName: string,
    readonly known: string[],
  ) {
    super(UNKNOWN_SERVICE(method, serviceName, known));
  }
}
