import { Inject } from '@nestjs/common';
import { getQueueToken } from '../queues/queue-token.js';

/**
 * Injects the `WorkQueue` registered under `name` with `HostingModule.registerQueue`.
 *
 * @example
 * ```ts
 * constructor(@InjectQueue('emails') private readonly emails: WorkQueue<EmailJob>) {}
 * ```
 */
export const InjectQueue = (name: string): ParameterDecorator & PropertyDecorator => Inject(getQueueToken(name));
