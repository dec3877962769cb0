/**
 * An `AbortController` made only when its signal is first read. Most ticks never read
 * `ctx.signal`, and making a controller is the dearest step between a timer firing and the
 * handler's first line (Node builds an `EventTarget`); an abort before the signal is read is kept
 * and applied to the signal when it is made, so a reader sees the same state and reason.
 */
export class LazyAbortController implements AbortController {
  private controller?: AbortController;
  private pending?: { reason: unknown };

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.pending) this.controller.abort(this.pending.reason);
    }
    return this.controller.signal;
  }

  abort(reason?: unknown): void {
    if (this.controller) this.controller.abort(reason);
    else this.pending ??= { reason };
  }
}
