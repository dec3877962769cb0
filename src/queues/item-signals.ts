/**
 * The abort signals of one queue's items. Each item gets its own signal, made only when its
 * handler reads `ctx.signal` (Node's AbortController costs microseconds; most handlers never
 * look), and forgotten when the item ends: listeners a handler leaves on it go with it, and no
 * signal collects one listener per concurrent item (no `MaxListenersExceededWarning`).
 */
export class ItemSignals {
  private readonly live = new Set<AbortController>();
  private abortedWith?: { reason: unknown };

  /** True once `abortAll` ran: every item's signal is aborted, also one made later. */
  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  /** A controller for one item, already aborted after `abortAll`. */
  create(): AbortController {
    const controller = new AbortController();
    if (this.abortedWith) controller.abort(this.abortedWith.reason);
    else this.live.add(controller);
    return controller;
  }

  /** The item ended: its controller is no longer reachable from the queue. */
  release(controller: AbortController): void {
    this.live.delete(controller);
  }

  /** Aborts every live item's signal (the shutdown deadline passed). */
  abortAll(reason: unknown): void {
    if (this.abortedWith) return;
    this.abortedWith = { reason };
    for (const controller of this.live) controller.abort(reason);
    this.live.clear();
  }
}
