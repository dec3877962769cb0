import { randomUUID } from 'node:crypto';
import { CLS_ID, ClsService } from 'nestjs-cls';
import { WorkInterceptor, type EnqueueContext, type WorkContext, type WorkNext } from '../../src/index.js';

/** The header that carries the request id: on the HTTP request, and on the queue item it enqueues. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Carries the `nestjs-cls` request id from the HTTP request into the jobs it enqueues: at enqueue
 * (in the request's CLS context) it writes the id into the item's headers; around each unit of work
 * it opens a CLS context whose id is the one the item carried (a new one for a tick, a background
 * run, or an item enqueued outside any request), so `cls.getId()` works in every handler.
 */
@WorkInterceptor()
export class RequestIdInterceptor implements WorkInterceptor {
  constructor(private readonly cls: ClsService) {}

  interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>): Promise<string> {
    const id = this.cls.isActive() ? this.cls.getId() : undefined;
    if (id) enqueue.headers[REQUEST_ID_HEADER] = id;
    return next();
  }

  intercept(work: WorkContext, next: WorkNext): unknown {
    return this.cls.run(() => {
      this.cls.set(CLS_ID, work.job?.headers[REQUEST_ID_HEADER] ?? randomUUID());
      return next();
    });
  }
}
