import type { TimeProvider, TimerHandle } from '../../time/time-provider.js';
import { IndexedHeap } from './indexed-heap.js';

/** A delayed item: what the channel would hold (`held`), its tag, and when it becomes due (monotonic ms). */
interface DelayedEntry<T> {
  readonly held: T;
  readonly tag: number;
  readonly dueAt: number;
  /** Order of arrival: items due at one instant come out in the order they were added. */
  readonly seq: number;
  /** Where the entry sits in the heap. */
  index: number;
}

const before = <T>(a: DelayedEntry<T>, b: DelayedEntry<T>): boolean => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);

/**
 * The memory backend's delayed items (`delayMs`, `runAt`): a min-heap by due time with one timer on
 * the host's `TimeProvider`, armed for the earliest (not a timer per item). When it fires, every
 * item due by then is handed to `onDue`, in due order (then order of arrival), and the timer is armed
 * for the next.
 */
export class DelayedItems<T> {
  private readonly heap = new IndexedHeap<DelayedEntry<T>>(before);
  private seq = 0;
  private timer?: TimerHandle;
  /** The due time the timer is armed for. */
  private armedFor = Infinity;

  constructor(
    private readonly time: TimeProvider,
    private readonly onDue: (held: T, tag: number) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Keeps `held` until `delayMs` from now (monotonic). */
  add(held: T, tag: number, delayMs: number): void {
    const entry: DelayedEntry<T> = { held, tag, dueAt: this.time.monotonic() + delayMs, seq: this.seq++, index: 0 };
    this.heap.push(entry);
    if (entry.dueAt < this.armedFor) this.arm();
  }

  /** Removes the first item (in due order of the heap's array, O(n)) that `match` accepts, if any. */
  removeWhere(match: (held: T, tag: number) => boolean): { held: T; tag: number } | undefined {
    const entry = this.heap.find((candidate) => match(candidate.held, candidate.tag));
    if (entry === undefined) return undefined;
    this.heap.remove(entry);
    if (this.heap.length === 0) this.disarm();
    else if (this.heap.peek().dueAt !== this.armedFor) this.arm();
    return { held: entry.held, tag: entry.tag };
  }

  /** Removes every item (in due order) and clears the timer: at shutdown. */
  takeAll(): T[] {
    this.disarm();
    return this.heap.takeAll().map((entry) => entry.held);
  }

  private arm(): void {
    this.timer?.clear();
    const first = this.heap.peek();
    this.armedFor = first.dueAt;
    // Rounded, as a `setTimeout` of the whole delay would be: Node's timers count whole milliseconds,
    // and the item a timer was armed for is due when it fires (see `fire`), a fraction early or late.
    this.timer = this.time.setTimeout(() => this.fire(), Math.max(0, Math.round(first.dueAt - this.time.monotonic())));
  }

  private disarm(): void {
    this.timer?.clear();
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private fire(): void {
    // The item the timer was armed for is due even when the timer fired a hair early against the
    // monotonic clock (Node's timers count whole milliseconds on the loop's own clock): re-arming for
    // it would make it a millisecond late.
    const now = Math.max(this.time.monotonic(), this.armedFor);
    this.timer = undefined;
    this.armedFor = Infinity;
    const heap = this.heap;
    // Each item due is handed over before the next is looked at: onDue never finds the heap half-changed.
    while (heap.length > 0 && heap.peek().dueAt <= now) {
      const entry = heap.peek();
      heap.remove(entry);
      this.onDue(entry.held, entry.tag);
    }
    if (heap.length > 0 && this.timer === undefined) this.arm();
  }
}
