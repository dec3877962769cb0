/**
 * The enqueues of one BullMQ queue that wait for Redis to confirm them, each bounded by the same
 * timeout. This is on the path of every item, so it costs what a list costs: an entry linked in
 * and out (no `Set`, whose hashing of a fresh object per item cost more than the rest of
 * `enqueue`), and one timer for all of them instead of one per item. Entries are linked in the
 * order they were made, which is the order of their deadlines: the timer is armed for the first.
 */
export class PendingEnqueue {
  prev?: PendingEnqueue;
  next?: PendingEnqueue;
  /** False once it settled. */
  waiting = true;
  onAbort?: () => void;

  constructor(
    /** `performance.now()` at which it times out. */
    readonly deadline: number,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}
}

export class PendingEnqueues {
  private head?: PendingEnqueue;
  private tail?: PendingEnqueue;
  private timer?: NodeJS.Timeout;

  /**
   * `timeoutMs`: how long each waits (validated to fit one Node timer, at most 2^31−1 ms);
   * `timedOut`: the error an enqueue that waited that long rejects with.
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly timedOut: () => unknown,
  ) {}

  /** A new pending enqueue, rejected through `reject` at its deadline, or when `signal` aborts (with its reason). */
  add(reject: (error: unknown) => void, signal?: AbortSignal): PendingEnqueue {
    const entry = new PendingEnqueue(performance.now() + this.timeoutMs, reject, signal);
    const tail = this.tail;
    entry.prev = tail;
    if (tail) tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    if (signal) {
      entry.onAbort = () => this.fail(entry, signal.reason);
      signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    this.timer ??= this.arm(entry.deadline);
    return entry;
  }

  /** Takes `entry` out: true the first time (it settles now), false once it has settled. */
  settle(entry: PendingEnqueue): boolean {
    if (!entry.waiting) return false;
    entry.waiting = false;
    const { prev, next } = entry;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    entry.prev = entry.next = undefined;
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
    if (!this.head && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return true;
  }

  /** Rejects `entry` with `error`, unless it has settled already. */
  fail(entry: PendingEnqueue, error: unknown): void {
    if (this.settle(entry)) entry.reject(error);
  }

  /** Rejects every pending enqueue. */
  failAll(error: () => unknown): void {
    while (this.head) this.fail(this.head, error());
  }

  private arm(deadline: number): NodeJS.Timeout {
    return setTimeout(this.expire, Math.max(1, Math.ceil(deadline - performance.now())));
  }

  /** The timer fired: the entries past their deadline reject; the first one not yet due re-arms it. */
  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    while (this.head && this.head.deadline <= now) this.fail(this.head, this.timedOut());
    if (this.head) this.timer = this.arm(this.head.deadline);
  };
}
