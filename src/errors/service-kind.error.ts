import { ConflictException } from '@nestjs/common';
import type { ServiceKind } from '../interfaces/service-status.interface.js';
import { WRONG_KIND } from '../hosting.messages.js';
import { OneCopy } from '../one-copy.js';

/**
 * Thrown by `HostingRegistry.trigger` (periodic tasks only), `pause` and `resume` (periodic tasks
 * and queues), `restart` (background services only) and the queue methods (`deadLetters`,
 * `redrive`, `discard`, `cancel`, `onQueueEvent`) for a unit of another kind. It is a Nest
 * `ConflictException`: an admin controller that lets it through answers 409.
 */
@OneCopy('ServiceKindError')
export class ServiceKindError extends ConflictException {
  override readonly name = 'ServiceKindError';

  /** Creates the error for `method` called on `serviceName`, a `kind` unit; `expected` says which kinds `method` applies to. */
  constructor(
    readonly method: string,
    readonly serviceName: string,
    readonly kind: ServiceKind,
    expected: string,
  ) {
    super(WRONG_KIND(method, serviceName, kind, expected));
  }
}
