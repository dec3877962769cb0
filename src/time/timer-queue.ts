import type { TimeProvider, TimerHandle } from './time-provider.js';

/**
 * What a `TimerQueue` arms: an object made once by its owner and armed again and again, which keeps
 * its own place in the queue (a periodic task is its own timer: a tick touches one object, not a
 * timer and a callback beside it). Re-arming allocates nothing but its place in the bucket of its
 * due instant.
 */
export interface QueuedTimer {
  /** The queue's: bumped by every arm and cancel (an entry left in a bucket by an earlier arm is stale). */
  queueGeneration: number;
  /** The queue's: whether it is armed. */
  queueArmed: boolean;
  /** Called when it comes due; a throw is rethrown once the batch it fired in is done. */
  fireQueued(): void;
}

/**
 * The timers due at one instant, in arming order (with the generation each was armed with). Its
 * arrays are kept when it has fired and serve the next instant (`size` counts the entries): a grid of
 * thousands of tasks re-arms into arrays already grown, not into new ones at every slot.
 */
class Bucket {
  dueAt = 0;
  size = 0;
  readonly timers: (QueuedTimer | undefined)[] = [];
  readonly generations: number[] = [];
}

/** Fired buckets kept for reuse, at most. */
const SPARE_BUCKETS = 4;

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
  /** The monotonic clock as last read in this batch (`readNow`; at first, the batch's start). */
  private latestNow = 0;
  /** The wall-clock offset read in this batch, once asked for. */
  private batchWallOffset?: number;
  /** Fired buckets, emptied, for the next instants. */
  private readonly spares: Bucket[] = [];
  /** The bucket armed into last (while it is in the map). */
  private lastBucket?: Bucket;

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

  /** Whether a batch is firing (its timers are being called). */
  get inBatch(): boolean {
    return this.firing;
  }

  /**
   * The monotonic clock: while a batch fires, as last read in it (at its start, or by `readNow` at
   * the end of the run before: a tick fired in a batch needs no read of its own); else read now.
   */
  recentNow(): number {
    return this.firing ? this.latestNow : this.time.monotonic();
  }

  /** Reads the monotonic clock; while a batch fires, the read serves the timers after it (`recentNow`). */
  readNow(): number {
    const now = this.time.monotonic();
    if (this.firing) this.latestNow = now;
    return now;
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
    if (!timer.queueArmed) this.armedCount++;
    timer.queueArmed = true;
    const generation = ++timer.queueGeneration;
    // Timers re-armed in one batch go to one instant, one after the other: the last bucket first.
    let bucket = this.lastBucket?.dueAt === dueAt ? this.lastBucket : this.buckets.get(dueAt);
    if (!bucket) {
      bucket = this.spares.pop() ?? new Bucket();
      bucket.dueAt = dueAt;
      this.buckets.set(dueAt, bucket);
      this.pushInstant(dueAt);
      if (!this.firing && this.instants[0] === dueAt) this.armProvider();
    }
    this.lastBucket = bucket;
    const index = bucket.size++;
    bucket.timers[index] = timer;
    bucket.generations[index] = generation;
  }

  /**
   * The provider's `wallClockOffset()`, read once per batch while the queue fires (a tick places its
   * slot on the wall clock: thousands of ticks in a batch need one read, not two each).
   */
  wallClockOffset(): number {
    if (!this.firing) return this.time.wallClockOffset();
    return (this.batchWallOffset ??= this.time.wallClockOffset());
  }

  /** Disarms `timer` (a no-op when it is not armed). */
  cancel(timer: QueuedTimer): void {
    if (!timer.queueArmed) return;
    timer.queueArmed = false;
    timer.queueGeneration++;
    // None left armed: the buckets hold only stale entries, and no provider timer may keep the process alive.
    if (--this.armedCount === 0 && !this.firing) this.clear();
  }

  /** Drops every bucket and the provider timer (nothing is armed). */
  private clear(): void {
    this.buckets.clear();
    this.lastBucket = undefined;
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
    this.latestNow = this.time.monotonic();
    const until = this.latestNow + (typeof slack === 'number' ? slack : 0);
    this.firing = true;
    this.batchWallOffset = undefined;
    let failure: { error: unknown } | undefined;
    try {
      while (this.instants.length > 0 && this.instants[0]! <= until) {
        const dueAt = this.popInstant();
        const bucket = this.buckets.get(dueAt)!;
        this.buckets.delete(dueAt);
        if (this.lastBucket === bucket) this.lastBucket = undefined;
        const { timers, generations } = bucket;
        for (let i = 0; i < bucket.size; i++) {
          const timer = timers[i]!;
          timers[i] = undefined; // the bucket is kept for reuse: it holds no timer once fired
          if (!timer.queueArmed || timer.queueGeneration !== generations[i]) continue; // cancelled or re-armed since
          timer.queueArmed = false;
          this.armedCount--;
          try {
            timer.fireQueued();
          } catch (error) {
            failure ??= { error };
          }
        }
        bucket.size = 0;
        if (this.spares.length < SPARE_BUCKETS) this.spares.push(bucket);
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
