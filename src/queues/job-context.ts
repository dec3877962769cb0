/**
 * What one delivery of a queue item knows about itself. In a scoped worker it is also the
 * request object: `@Inject(REQUEST)` in a request-scoped provider returns it.
 */
export class JobContext {
  constructor(
    /** The queue's name. */
    readonly queue: string,
    /** The item's id (unique per queue; BullMQ's job id on that backend). */
    readonly id: string,
    /** 1 for the first try, then 2, 3, … up to `attempts`. */
    readonly attempt: number,
    /** Aborts when the shutdown deadline passes while the item is being handled. */
    readonly signal: AbortSignal,
  ) {}
}
