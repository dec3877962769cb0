import { showValue } from '../../hosting.messages.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { QueueFullError } from '../errors/queue-full.error.js';
import { RankedItems } from './ranked-items.js';

/** What a bounded channel does with a new item when it is full (.NET's `BoundedChannelFullMode`). */
export type ChannelFullMode = 'wait' | 'dropOldest' | 'dropNewest' | 'reject';

/** Options of a `MemoryChannel`. */
export interface MemoryChannelOptions<T> {
  /** Name of the queue, quoted in errors. */
  name: string;
  /** Most items held at once; a positive integer. @default undefined (unbounded) */
  capacity?: number;
  /**
   * When full: `'wait'` holds the writer back until there is room (backpressure), `'dropOldest'`
   * evicts the oldest queued item, `'dropNewest'` evicts the most recently queued item, `'reject'`
   * fails the write with `QueueFullError`. Ignored by an unbounded channel.
   * @default 'wait'
   */
  fullMode?: ChannelFullMode;
  /** Called synchronously with each item that `dropOldest` / `dropNewest` evicts; a throw reaches the writer. */
  onDropped?: (item: T) => void;
}

/** What `read()` resolves once the channel is completed and every queued item has been read. */
export const CHANNEL_DONE: unique symbol = Symbol('nest-hosting:channel-done');

const FULL_MODES: readonly ChannelFullMode[] = ['wait', 'dropOldest', 'dropNewest', 'reject'];
/** Slots per storage segment: a burst adds segments instead of copying a growing array. */
const MAX_SEGMENT_SLOTS = 1024;
const MIN_SEGMENT_SLOTS = 16;
// Shared settled promises: the fast paths of write() and read() allocate nothing for them.
const WRITTEN: Promise<void> = Promise.resolve();
const DONE: Promise<typeof CHANNEL_DONE> = Promise.resolve(CHANNEL_DONE);
const READABLE: Promise<boolean> = Promise.resolve(true);
const FINISHED: Promise<boolean> = Promise.resolve(false);

// Messages for this file's errors; candidates for src/hosting.messages.ts.
const INVALID_NAME = (value: unknown) =>
  `MemoryChannel: option "name" must be a non-empty string, got ${showValue(value)}`;
const INVALID_CAPACITY = (queue: string, value: unknown) =>
  `Queue "${queue}": option "capacity" must be a positive integer, or omitted for an unbounded queue, ` +
  `got ${showValue(value)}`;
const INVALID_FULL_MODE = (queue: string, value: unknown) =>
  `Queue "${queue}": option "fullMode" must be one of ${FULL_MODES.map((m) => `'${m}'`).join(', ')}, ` +
  `got ${showValue(value)}`;
const INVALID_ON_DROPPED = (queue: string, value: unknown) =>
  `Queue "${queue}": option "onDropped" must be a function, got ${showValue(value)}`;
const EMPTY_SHIFT = (queue: string) =>
  `MemoryChannel.shift on queue "${queue}": the queue is empty; check size > 0 first`;

/**
 * An in-memory FIFO work queue between producers and consumers, modelled on .NET's
 * `System.Threading.Channels` (`BoundedChannel` / `UnboundedChannel`). Plain TypeScript, no Nest.
 *
 * @example
 * const channel = new MemoryChannel<Job>({ name: 'emails', capacity: 100 }); // fullMode 'wait'
 * await channel.write(job, signal);              // waits for room when full
 * for (let item; (item = await channel.read(signal)) !== CHANNEL_DONE; ) await handle(item);
 * // synchronous, allocation-free: if (channel.tryWrite(job, tag)) …; while (channel.size > 0) handle(channel.headTag, channel.shift());
 * // a consumer loop that keeps the tags: while (await channel.waitToRead(signal)) while (channel.size > 0) …
 *
 * Each item can carry a numeric `tag` (the queue's item id) stored beside it, so that a queue
 * needs no record object per item: a million queued items are a million slots, not a million
 * objects for the garbage collector to move.
 *
 * Items written with a priority (`tryWritePrioritized`, `write(…, priority)`) wait in a structure of
 * their own, consulted only while one is there: items without a priority are read first, then the
 * prioritized ones, lower number first, first in first out within one priority. The capacity counts
 * both. Across the two, the drop modes tell the longest-waiting and the most recently written item by
 * their tags: give tags that grow with each write when you use priorities (a queue's ids do).
 */
export class MemoryChannel<T> {
  /** Name of the queue, quoted in errors. */
  readonly name: string;
  /** Most items held at once, or `undefined` when unbounded. */
  readonly capacity: number | undefined;
  /** What a write does when the channel is full. */
  readonly fullMode: ChannelFullMode;

  private readonly limit: number;
  private readonly onDropped: ((item: T) => void) | undefined;
  private readonly items: SegmentedDeque<T>;
  private readonly ranked = new RankedItems<T>();
  /** Room for items without a priority: `limit` less the prioritized items (one field read on the write path, as before). */
  private plainLimit: number;
  /** Prioritized items held (`ranked.length`, as a field: `size` is read per delivered item). */
  private rankedCount = 0;
  private readonly readers = new WaiterQueue<T | typeof CHANNEL_DONE, undefined>();
  private readonly watchers = new WaiterQueue<boolean, undefined>();
  private readonly writers = new WaiterQueue<void, T>();
  private completed = false;

  /** Creates a channel; throws `TypeError` on an invalid option. */
  constructor(options: MemoryChannelOptions<T>) {
    const { name, capacity, fullMode = 'wait', onDropped } = options;
    if (typeof name !== 'string' || name === '') throw new TypeError(INVALID_NAME(name));
    if (capacity !== undefined && !(Number.isSafeInteger(capacity) && capacity > 0)) {
      throw new TypeError(INVALID_CAPACITY(name, capacity));
    }
    if (!FULL_MODES.includes(fullMode)) throw new TypeError(INVALID_FULL_MODE(name, fullMode));
    if (onDropped !== undefined && typeof onDropped !== 'function') {
      throw new TypeError(INVALID_ON_DROPPED(name, onDropped));
    }
    this.name = name;
    this.capacity = capacity;
    this.fullMode = fullMode;
    this.onDropped = onDropped;
    this.limit = this.plainLimit = capacity ?? Infinity;
    this.items = new SegmentedDeque<T>(Math.max(MIN_SEGMENT_SLOTS, Math.min(MAX_SEGMENT_SLOTS, capacity ?? Infinity)));
  }

  /** Number of items queued and not yet read. */
  get size(): number {
    return this.items.length + this.rankedCount;
  }

  /** Whether `complete()` has been called: no item is accepted any more. */
  get isCompleted(): boolean {
    return this.completed;
  }

  /** Number of `write()` calls waiting for room. */
  get waitingWriters(): number {
    return this.writers.count;
  }

  /** Number of `read()` and `waitToRead()` calls waiting for an item. */
  get waitingReaders(): number {
    return this.readers.count + this.watchers.count;
  }

  /** The tag of the item `shift` takes next (what `tryWrite` / `write` was given with it); check `size > 0` first. */
  get headTag(): number {
    return this.items.length > 0 ? this.items.headTag : this.ranked.headTag;
  }

  /**
   * Writes `item` now if the channel can take it, without waiting. `tag` is kept beside the item
   * (`headTag`); a `read()` that was waiting takes the item alone.
   * @returns `true` when written (possibly evicting another item per `fullMode`), `false` when full in `'wait'` mode.
   * @throws QueueClosedError after `complete()`; QueueFullError when full in `'reject'` mode.
   */
  tryWrite(item: T, tag = 0): boolean {
    if (this.completed) throw new QueueClosedError(this.name);
    // A waiting reader means the buffer is empty: hand the item over directly.
    if (this.readers.count > 0) this.readers.shift()!.settle(item);
    else if (this.items.length < this.plainLimit) {
      this.items.push(item, tag);
      if (this.watchers.count > 0) this.watchers.shift()!.settle(true);
    } else return this.writeWhenFull(item, tag, 0);
    return true;
  }

  /**
   * `tryWrite` for an item with a `priority` (a positive integer: lower is read first, after every
   * item without one); 0 is no priority.
   */
  tryWritePrioritized(item: T, tag: number, priority: number): boolean {
    if (priority === 0) return this.tryWrite(item, tag);
    if (this.completed) throw new QueueClosedError(this.name);
    if (this.readers.count > 0) this.readers.shift()!.settle(item);
    else if (this.size < this.limit) {
      this.pushRanked(item, tag, priority);
      if (this.watchers.count > 0) this.watchers.shift()!.settle(true);
    } else return this.writeWhenFull(item, tag, priority);
    return true;
  }

  /**
   * Writes `item` when there is room and returns true, or returns false when the channel is full,
   * whatever `fullMode` (no eviction, no `QueueFullError`): .NET's `TryWrite`.
   * @throws QueueClosedError after `complete()`.
   */
  offer(item: T, tag = 0): boolean {
    if (this.completed) throw new QueueClosedError(this.name);
    if (this.readers.count > 0) this.readers.shift()!.settle(item);
    else if (this.items.length < this.plainLimit) {
      this.items.push(item, tag);
      if (this.watchers.count > 0) this.watchers.shift()!.settle(true);
    } else return false;
    return true;
  }

  /**
   * Writes `item`, waiting for room in `'wait'` mode (writers are admitted in the order they called).
   * Rejects with `signal.reason` when `signal` aborts first, with `QueueClosedError` once the channel
   * completes before the item got in, and with `QueueFullError` when full in `'reject'` mode.
   */
  write(item: T, signal?: AbortSignal, tag = 0, priority = 0): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      if (priority === 0 ? this.tryWrite(item, tag) : this.tryWritePrioritized(item, tag, priority)) return WRITTEN;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.writers.wait(item, signal, tag, priority);
  }

  /**
   * Removes and returns the oldest item, synchronously and without allocating.
   * @throws RangeError when the channel is empty: check `size > 0` first.
   */
  shift(): T {
    let item: T;
    if (this.items.length > 0) item = this.items.shift();
    else if (this.ranked.length > 0) {
      item = this.ranked.shift();
      this.rankedLeft();
    } else throw new RangeError(EMPTY_SHIFT(this.name));
    // One slot was freed: the longest-waiting writer gets it.
    if (this.writers.count > 0) {
      const writer = this.writers.shift()!;
      this.admit(writer.item, writer.tag, writer.priority);
      writer.settle(undefined);
    }
    return item;
  }

  /**
   * Removes the first queued item (or item still waiting for room) that `match` accepts, searching
   * the items without a priority, then the prioritized ones, then the waiting writers (whose write
   * then resolves: the item was taken in and removed at once). O(n): for rare removals (a cancel).
   * The room it freed goes to the longest-waiting writer. `onDropped` is not called.
   */
  removeWhere(match: (item: T, tag: number) => boolean): { item: T; tag: number } | undefined {
    let removed = this.items.removeWhere(match);
    if (removed === undefined) {
      removed = this.ranked.removeWhere(match);
      if (removed !== undefined) this.rankedLeft();
    }
    if (removed !== undefined) {
      if (this.writers.count > 0) {
        const writer = this.writers.shift()!;
        this.admit(writer.item, writer.tag, writer.priority);
        writer.settle(undefined);
      }
      return removed;
    }
    const writer = this.writers.find(match);
    if (writer === undefined) return undefined;
    this.writers.remove(writer);
    writer.settle(undefined);
    return { item: writer.item, tag: writer.tag };
  }

  /**
   * Resolves the oldest item, waiting for one when empty (waiting readers are served in the order
   * they called), or `CHANNEL_DONE` once the channel is completed and empty. Rejects with
   * `signal.reason` when `signal` aborts first.
   */
  read(signal?: AbortSignal): Promise<T | typeof CHANNEL_DONE> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.size > 0) return Promise.resolve(this.shift());
    if (this.completed) return DONE;
    return this.readers.wait(undefined, signal, 0);
  }

  /**
   * Resolves `true` once an item is queued (at once if one is), `false` once the channel is
   * completed and empty (.NET's `WaitToReadAsync`). It takes nothing: follow it with `shift()`,
   * which another consumer may have beaten you to. Rejects with `signal.reason` when `signal` aborts first.
   */
  waitToRead(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.size > 0) return READABLE;
    if (this.completed) return FINISHED;
    return this.watchers.wait(undefined, signal, 0);
  }

  /**
   * Closes the intake (idempotent): later writes and writes still waiting for room reject with
   * `QueueClosedError`; queued items remain readable, then `read()` resolves `CHANNEL_DONE`.
   */
  complete(): void {
    if (this.completed) return;
    this.completed = true;
    for (let writer; (writer = this.writers.shift()) !== undefined; ) writer.fail(new QueueClosedError(this.name));
    // Readers only wait on an empty channel, and nothing more can arrive.
    for (let reader; (reader = this.readers.shift()) !== undefined; ) reader.settle(CHANNEL_DONE);
    for (let watcher; (watcher = this.watchers.shift()) !== undefined; ) watcher.settle(false);
  }

  /**
   * Removes and returns every queued item, oldest first (for the shutdown deadline). `onDropped` is
   * not called: the caller owns the returned items.
   */
  drain(): T[] {
    const drained = this.items.takeAll();
    if (this.ranked.length > 0) {
      for (const item of this.ranked.takeAll()) drained.push(item);
      this.plainLimit = this.limit;
      this.rankedCount = 0;
    }
    // The freed room goes to writers still waiting (none after complete()).
    for (let writer; this.size < this.limit && (writer = this.writers.shift()) !== undefined; ) {
      this.admit(writer.item, writer.tag, writer.priority);
      writer.settle(undefined);
    }
    if (this.size > 0) for (let watcher; (watcher = this.watchers.shift()) !== undefined; ) watcher.settle(true);
    return drained;
  }

  /** Applies `fullMode` to a write that found the channel full. */
  private writeWhenFull(item: T, tag: number, priority: number): boolean {
    switch (this.fullMode) {
      case 'wait':
        return false;
      case 'reject':
        throw new QueueFullError(this.name, this.limit);
      case 'dropOldest':
        return this.replace(this.takeOldest(), item, tag, priority);
      case 'dropNewest':
        return this.replace(this.takeNewest(), item, tag, priority);
    }
  }

  /** Takes the longest-waiting item, with or without a priority (the smaller tag when both kinds wait). */
  private takeOldest(): T {
    const ranked = this.ranked;
    if (ranked.length === 0 || (this.items.length > 0 && this.items.headTag <= ranked.oldestTag)) return this.items.shift();
    this.rankedLeft();
    return ranked.takeOldest();
  }

  /** Takes the most recently written item, with or without a priority (the larger tag when both kinds wait). */
  private takeNewest(): T {
    const ranked = this.ranked;
    if (ranked.length === 0 || (this.items.length > 0 && this.items.tailTag >= ranked.newestTag)) return this.items.pop();
    this.rankedLeft();
    return ranked.takeNewest();
  }

  /** Queues an item where its priority puts it (the caller made room). */
  private admit(item: T, tag: number, priority: number): void {
    if (priority === 0) this.items.push(item, tag);
    else this.pushRanked(item, tag, priority);
  }

  private pushRanked(item: T, tag: number, priority: number): void {
    this.ranked.push(item, tag, priority);
    this.plainLimit--;
    this.rankedCount++;
  }

  /** A prioritized item left: its room is free for any item. */
  private rankedLeft(): void {
    this.plainLimit++;
    this.rankedCount--;
  }

  /** Queues `item` in place of the evicted one, then reports the eviction. */
  private replace(evicted: T, item: T, tag: number, priority: number): boolean {
    // The channel is consistent before user code runs, even if onDropped throws or re-enters.
    this.admit(item, tag, priority);
    this.onDropped?.(evicted);
    return true;
  }
}

/** A run of slots in a `SegmentedDeque`, with the items' tags beside them (small integers, stored unboxed). */
class Segment<T> {
  readonly items: (T | undefined)[];
  readonly tags: Float64Array;
  prev: Segment<T> | undefined;
  next: Segment<T> | undefined;

  constructor(slots: number) {
    this.items = new Array<T | undefined>(slots).fill(undefined);
    this.tags = new Float64Array(slots);
  }
}

/**
 * A FIFO (with pop at the tail for `dropNewest`) on a linked list of fixed-size segments: O(1)
 * push, shift and pop, no per-item allocation, and a burst adds segments instead of copying one
 * ever larger array. One emptied segment is kept for reuse; the others are garbage-collected.
 */
class SegmentedDeque<T> {
  length = 0;
  private head: Segment<T>;
  private tail: Segment<T>;
  /** Index of the oldest item in `head`. */
  private headIndex = 0;
  /** Index one past the newest item in `tail`. */
  private tailIndex = 0;
  private spare: Segment<T> | undefined;

  constructor(private readonly slots: number) {
    this.head = this.tail = new Segment<T>(slots);
  }

  /** The tag of the oldest item; the caller checks `length > 0`. */
  get headTag(): number {
    return this.head.tags[this.headIndex];
  }

  /** The tag of the newest item; the caller checks `length > 0`. */
  get tailTag(): number {
    return this.tail.tags[this.tailIndex - 1];
  }

  push(item: T, tag: number): void {
    let tail = this.tail;
    if (this.tailIndex === this.slots) {
      const segment = this.spare ?? new Segment<T>(this.slots);
      this.spare = undefined;
      segment.prev = tail;
      tail.next = segment;
      this.tail = tail = segment;
      this.tailIndex = 0;
    }
    tail.items[this.tailIndex] = item;
    tail.tags[this.tailIndex] = tag;
    this.tailIndex++;
    this.length++;
  }

  /** Removes the oldest item; the caller checks `length > 0`. */
  shift(): T {
    const segment = this.head;
    const index = this.headIndex;
    const item = segment.items[index] as T;
    segment.items[index] = undefined; // let a read item be garbage-collected
    this.length--;
    if (this.length === 0) {
      // Empty: head and tail are one segment; start it over.
      this.headIndex = this.tailIndex = 0;
    } else if (index + 1 === this.slots) {
      // The head segment is used up: move on to the next one.
      const next = segment.next!;
      next.prev = segment.next = undefined;
      this.spare = segment;
      this.head = next;
      this.headIndex = 0;
    } else this.headIndex = index + 1;
    return item;
  }

  /** Removes the newest item; the caller checks `length > 0`. */
  pop(): T {
    const segment = this.tail;
    const index = this.tailIndex - 1;
    const item = segment.items[index] as T;
    segment.items[index] = undefined;
    this.length--;
    if (this.length === 0) {
      this.headIndex = this.tailIndex = 0;
    } else if (index === 0) {
      // The tail segment is empty (and is not the head, which still holds items): step back.
      const prev = segment.prev!;
      prev.next = segment.prev = undefined;
      this.spare = segment;
      this.tail = prev;
      this.tailIndex = this.slots;
    } else this.tailIndex = index;
    return item;
  }

  /** Removes the oldest item that `match` accepts, if any, moving the newer ones up a slot (O(n)). */
  removeWhere(match: (item: T, tag: number) => boolean): { item: T; tag: number } | undefined {
    let segment = this.head;
    let index = this.headIndex;
    for (let i = 0; i < this.length; i++, index++) {
      if (index === this.slots) {
        segment = segment.next!;
        index = 0;
      }
      const item = segment.items[index] as T;
      const tag = segment.tags[index];
      if (!match(item, tag)) continue;
      let to = segment;
      let toIndex = index;
      for (let j = i + 1; j < this.length; j++) {
        let from = to;
        let fromIndex = toIndex + 1;
        if (fromIndex === this.slots) {
          from = to.next!;
          fromIndex = 0;
        }
        to.items[toIndex] = from.items[fromIndex];
        to.tags[toIndex] = from.tags[fromIndex];
        to = from;
        toIndex = fromIndex;
      }
      this.pop(); // the newest slot now holds a copy of the item before it
      return { item, tag };
    }
    return undefined;
  }

  /** Removes every item, oldest first, and gives back the memory a burst may have grown. */
  takeAll(): T[] {
    const all = new Array<T>(this.length);
    let segment: Segment<T> | undefined = this.head;
    let index = this.headIndex;
    for (let i = 0; i < all.length; i++) {
      if (index === this.slots) {
        segment = segment!.next;
        index = 0;
      }
      all[i] = segment!.items[index++] as T;
    }
    this.head = this.tail = new Segment<T>(this.slots);
    this.headIndex = this.tailIndex = 0;
    this.spare = undefined;
    this.length = 0;
    return all;
  }
}

/** A pending `read()` or `write()`: its promise's settlers, linked into a FIFO that an abort leaves in O(1). */
class Waiter<R, I> {
  prev: Waiter<R, I> | undefined;
  next: Waiter<R, I> | undefined;

  constructor(
    readonly item: I,
    readonly tag: number,
    private readonly queue: WaiterQueue<R, I>,
    private readonly resolve: (result: R) => void,
    private readonly reject: (reason: unknown) => void,
    private readonly signal: AbortSignal | undefined,
    readonly priority: number,
  ) {
    signal?.addEventListener('abort', this);
  }

  /** Resolves the wait; the waiter has already left its queue. */
  settle(result: R): void {
    this.signal?.removeEventListener('abort', this);
    this.resolve(result);
  }

  /** Rejects the wait; the waiter has already left its queue. */
  fail(reason: unknown): void {
    this.signal?.removeEventListener('abort', this);
    this.reject(reason);
  }

  /** The signal aborted while waiting: leave the queue and reject with the signal's reason. */
  handleEvent(): void {
    this.queue.remove(this);
    this.fail(this.signal?.reason);
  }
}

/** Waiters in arrival order, as a doubly linked list: add at the tail, take from the head, unlink anywhere. */
class WaiterQueue<R, I> {
  count = 0;
  private head: Waiter<R, I> | undefined;
  private tail: Waiter<R, I> | undefined;

  /** Queues a waiter carrying `item` (and its tag and priority) and returns its promise. */
  wait(item: I, signal: AbortSignal | undefined, tag: number, priority = 0): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiter = new Waiter(item, tag, this, resolve, reject, signal, priority);
      waiter.prev = this.tail;
      if (this.tail === undefined) this.head = waiter;
      else this.tail.next = waiter;
      this.tail = waiter;
      this.count++;
    });
  }

  /** The longest-waiting waiter whose item `match` accepts, if any. */
  find(match: (item: I, tag: number) => boolean): Waiter<R, I> | undefined {
    for (let waiter = this.head; waiter !== undefined; waiter = waiter.next) if (match(waiter.item, waiter.tag)) return waiter;
    return undefined;
  }

  /** Takes the longest-waiting waiter, if any. */
  shift(): Waiter<R, I> | undefined {
    const waiter = this.head;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  /** Unlinks `waiter`, wherever it is in the queue. */
  remove(waiter: Waiter<R, I>): void {
    if (waiter.prev === undefined) this.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.count--;
  }
}
