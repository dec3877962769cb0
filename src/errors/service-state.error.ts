import { ConflictException } from '@nestjs/common';
import type { ServiceState } from '../interfaces/service-status.interface.js';
import { OneCopy } from '../one-copy.js';

/**
 * Thrown by `HostingRegistry.restart` for a background service that is not faulted (running, or
 * about to be restarted by its restart policy), or once the host is stopping. It is a Nest
 * `ConflictException`: an admin controller that lets it through answers 409.
 */
@OneCopy('ServiceStateError')
export class ServiceStateError extends ConflictException {
  override readonly name = 'ServiceStateError';

  /** Creates the error for `method` called on `serviceName`, found in `state`; `message` says why it was refused. */
  constructor(
    readonly method: string,
    readonly serviceName: string,
    readonly state: ServiceState,
    message: string,
  ) {
    super(message);
  }
}
