import type { TimeProvider, TimerHandle } from './time-provider.js';

/**
 * A timer of a `TimerQueue`, made once by its owner and armed again and again: re-arming allocates
 * nothing but its place in the bucket of its due instant (a periodic task re-arms once per tick).
 */
export class QueuedTimer {
  /** When it is due, on the provider's monotonic clock (while armed). */
  dueAt = 0;
  /** Bumped by every arm and cancel: an entry left in a bucket by an earlier arm is stale. */
  generation = 0;
  armed = false;

  constructor(
    /** Called when it comes due; a throw is rethrown once the batch it fired in is done. */
    readonly fire: () => void,
  ) {}
}

/** The timers due at one instant, in arming order (with the generation each was armed with). */
interface Bucket {
  dueAt: number;
  timers: QueuedTimer[];
  generations: number[];
}

const queues = new WeakMap<TimeProvider, TimerQueue>();

/**
 * The periodic tasks' timers on one `TimeProvider`, with one provider timer armed for the earliest.
 * Timers are kept in buckets, one per due instant, and the instants in a min-heap: tasks that share
 * a grid (started together, on one period) share a bucket, so a tick costs an array push to re-arm
 * and one step of a loop to fire, however many tasks there are; thousands of tasks cost one armed
 * Node timer. The timers due at one instant fire in one batch, in arming order, each starting its
 * run before the next fires. A cancelled or re-armed timer's old entry stays in its bucket, stale,
 * until that bucket comes due.
 */
export class TimerQueue {
  private readonly buckets = new Map<number, Bucket>();
  /** The buckets' instants, a binary min-heap. */
  private readonly instants: number[] = [];
  private timer?: TimerHandle;
  /** When the armed provider timer is due (monotonic); Infinity when none is armed. */
  private timerDueAt = Infinity;
  private firing = false;
  private armedCount = 0;

  private constructor(private readonly time: TimeProvider) {}

  /** The queue of `time` (one per provider). */
  static of(time: TimeProvider): TimerQueue {
    let queue = queues.get(time);
    if (!queue) {
      queue = new TimerQueue(time);
      queues.set(time, queue);
    }
    return queue;
  }

  /** How many timers are armed. */
  get size(): number {
    return this.armedCount;
  }

  /**
   * Arms `timer` for the instant `dueAt` of the provider's monotonic clock (moving it if it was
   * armed). An instant, not a delay: timers armed for one slot at different moments share its bucket.
   */
  armAt(timer: QueuedTimer, dueAt: number): void {
    if (!timer.armed) this.armedCount++;
    timer.armed = true;
    timer.dueAt = dueAt;
    const generation = ++timer.generation;
    let bucket = this.buckets.get(dueAt);
    if (!bucket) {
      bucket = { dueAt, timers: [], generations: [] };
      this.buckets.set(dueAt, bucket);
      this.pushInstant(dueAt);
      if (!this.firing && this.instants[0] === dueAt) this.armProvider();
    }
    bucket.timers.push(timer);
    bucket.generations.push(generation);
  }

  /** Disarms `timer` (a no-op when it is not armed). */
  cancel(timer: QueuedTimer): void {
    if (!timer.armed) return;
    timer.armed = false;
    timer.generation++;
    // None left armed: the buckets hold only stale entries, and no provider timer may keep the process alive.
    if (--this.armedCount === 0 && !this.firing) this.clear();
  }

  /** Drops every bucket and the provider timer (nothing is armed). */
  private clear(): void {
    this.buckets.clear();
    this.instants.length = 0;
    this.disarmProvider();
  }

  private armProvider(): void {
    const next = this.instants[0];
    if (next === undefined) return this.disarmProvider();
    if (this.timer && this.timerDueAt <= next) return; // fires first; re-arms for the earliest then
    this.timer?.clear();
    this.timerDueAt = next;
    this.timer = this.time.setTimeout(() => this.onFire(), next - this.time.monotonic());
  }

  private disarmProvider(): void {
    this.timer?.clear();
    this.timer = undefined;
    this.timerDueAt = Infinity;
  }

  /** Fires the buckets due now (timers armed during the batch wait for the next), then arms for the next. */
  private onFire(): void {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    // A provider given as a plain object (forRoot's timeProvider) may not say its slack: none.
    const slack = (this.time as Partial<TimeProvider>).timerSlackMs;
    const until = this.time.monotonic() + (typeof slack === 'number' ? slack : 0);
    this.firing = true;
    let failure: { error: unknown } | undefined;
    try {
      while (this.instants.length > 0 && this.instants[0]! <= until) {
        const dueAt = this.popInstant();
        const bucket = this.buckets.get(dueAt)!;
        this.buckets.delete(dueAt);
        const { timers, generations } = bucket;
        for (let i = 0; i < timers.length; i++) {
          const timer = timers[i]!;
          if (!timer.armed || timer.generation !== generations[i]) continue; // cancelled or re-armed since
          timer.armed = false;
          this.armedCount--;
          try {
            timer.fire();
          } catch (error) {
            failure ??= { error };
          }
        }
      }
    } finally {
      this.firing = false;
      if (this.armedCount === 0) this.clear();
      else this.armProvider();
    }
    // As a throw in a Node timer callback would: uncaught, once the other timers of the batch fired.
    if (failure) throw failure.error;
  }

  private pushInstant(instant: number): void {
    const heap = this.instants;
    let index = heap.length;
    heap.push(instant);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]! <= instant) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = instant;
  }

  private popInstant(): number {
    const heap = this.instants;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length === 0) return top;
    let index = 0;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]! < heap[child]!) child++;
      if (heap[child]! >= last) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}
