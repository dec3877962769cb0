import { showValue } from '../../hosting.messages.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { QueueFullError } from '../errors/queue-full.error.js';

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
const INITIAL_SLOTS = 16;
// Shared settled promises: the fast paths of write() and read() allocate nothing for them.
const WRITTEN: Promise<void> = Promise.resolve();
const DONE: Promise<typeof CHANNEL_DONE> = Promise.resolve(CHANNEL_DONE);

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
 * // synchronous, allocation-free: if (channel.tryWrite(job)) …; while (channel.size > 0) handle(channel.shift());
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
  private readonly items: RingBuffer<T>;
  private readonly readers = new WaiterQueue<T | typeof CHANNEL_DONE, undefined>();
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
    this.limit = capacity ?? Infinity;
    this.items = new RingBuffer<T>(Math.min(INITIAL_SLOTS, nextPowerOfTwo(this.limit)));
  }

  /** Number of items queued and not yet read. */
  get size(): number {
    return this.items.length;
  }

  /** Whether `complete()` has been called: no item is accepted any more. */
  get isCompleted(): boolean {
    return this.completed;
  }

  /** Number of `write()` calls waiting for room. */
  get waitingWriters(): number {
    return this.writers.count;
  }

  /** Number of `read()` calls waiting for an item. */
  get waitingReaders(): number {
    return this.readers.count;
  }

  /**
   * Writes `item` now if the channel can take it, without waiting.
   * @returns `true` when written (possibly evicting another item per `fullMode`), `false` when full in `'wait'` mode.
   * @throws QueueClosedError after `complete()`; QueueFullError when full in `'reject'` mode.
   */
  tryWrite(item: T): boolean {
    if (this.completed) throw new QueueClosedError(this.name);
    const reader = this.readers.shift();
    // A waiting reader means the buffer is empty: hand the item over directly.
    if (reader !== undefined) reader.settle(item);
    else if (this.items.length < this.limit) this.items.push(item);
    else return this.writeWhenFull(item);
    return true;
  }

  /**
   * Writes `item`, waiting for room in `'wait'` mode (writers are admitted in the order they called).
   * Rejects with `signal.reason` when `signal` aborts first, with `QueueClosedError` once the channel
   * completes before the item got in, and with `QueueFullError` when full in `'reject'` mode.
   */
  write(item: T, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      if (this.tryWrite(item)) return WRITTEN;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.writers.wait(item, signal);
  }

  /**
   * Removes and returns the oldest item, synchronously and without allocating.
   * @throws RangeError when the channel is empty: check `size > 0` first.
   */
  shift(): T {
    if (this.items.length === 0) throw new RangeError(EMPTY_SHIFT(this.name));
    const item = this.items.shift();
    // One slot was freed: the longest-waiting writer gets it.
    const writer = this.writers.shift();
    if (writer !== undefined) {
      this.items.push(writer.item);
      writer.settle(undefined);
    }
    return item;
  }

  /**
   * Resolves the oldest item, waiting for one when empty (waiting readers are served in the order
   * they called), or `CHANNEL_DONE` once the channel is completed and empty. Rejects with
   * `signal.reason` when `signal` aborts first.
   */
  read(signal?: AbortSignal): Promise<T | typeof CHANNEL_DONE> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.items.length > 0) return Promise.resolve(this.shift());
    if (this.completed) return DONE;
    return this.readers.wait(undefined, signal);
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
  }

  /**
   * Removes and returns every queued item, oldest first (for the shutdown deadline). `onDropped` is
   * not called: the caller owns the returned items.
   */
  drain(): T[] {
    const drained = this.items.takeAll();
    // The freed room goes to writers still waiting (none after complete()).
    for (let writer; this.items.length < this.limit && (writer = this.writers.shift()) !== undefined; ) {
      this.items.push(writer.item);
      writer.settle(undefined);
    }
    return drained;
  }

  /** Applies `fullMode` to a write that found the channel full. */
  private writeWhenFull(item: T): boolean {
    switch (this.fullMode) {
      case 'wait':
        return false;
      case 'reject':
        throw new QueueFullError(this.name, this.limit);
      case 'dropOldest':
        return this.replace(this.items.shift(), item);
      case 'dropNewest':
        return this.replace(this.items.pop(), item);
    }
  }

  /** Queues `item` in place of the evicted one, then reports the eviction. */
  private replace(evicted: T, item: T): boolean {
    // The channel is consistent before user code runs, even if onDropped throws or re-enters.
    this.items.push(item);
    this.onDropped?.(evicted);
    return true;
  }
}

/** A FIFO on a power-of-two ring of slots that doubles when full: O(1) push, shift and pop, no per-item allocation. */
class RingBuffer<T> {
  length = 0;
  private slots: (T | undefined)[];
  private mask: number;
  private head = 0;

  constructor(private readonly initialSlots: number) {
    this.slots = new Array<T | undefined>(initialSlots).fill(undefined);
    this.mask = initialSlots - 1;
  }

  push(item: T): void {
    if (this.length === this.slots.length) this.grow();
    this.slots[(this.head + this.length) & this.mask] = item;
    this.length++;
  }

  /** Removes the oldest item; the caller checks `length > 0`. */
  shift(): T {
    const item = this.slots[this.head] as T;
    this.slots[this.head] = undefined; // let a read item be garbage-collected
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  /** Removes the newest item; the caller checks `length > 0`. */
  pop(): T {
    const tail = (this.head + this.length - 1) & this.mask;
    const item = this.slots[tail] as T;
    this.slots[tail] = undefined;
    this.length--;
    return item;
  }

  /** Removes every item, oldest first, and gives back the memory a burst may have grown. */
  takeAll(): T[] {
    const all = new Array<T>(this.length);
    for (let i = 0; i < this.length; i++) all[i] = this.slots[(this.head + i) & this.mask] as T;
    this.slots = new Array<T | undefined>(this.initialSlots).fill(undefined);
    this.mask = this.initialSlots - 1;
    this.head = 0;
    this.length = 0;
    return all;
  }

  private grow(): void {
    const slots = new Array<T | undefined>(this.slots.length * 2).fill(undefined);
    for (let i = 0; i < this.length; i++) slots[i] = this.slots[(this.head + i) & this.mask];
    this.slots = slots;
    this.mask = slots.length - 1;
    this.head = 0;
  }
}

/** A pending `read()` or `write()`: its promise's settlers, linked into a FIFO that an abort leaves in O(1). */
class Waiter<R, I> {
  prev: Waiter<R, I> | undefined;
  next: Waiter<R, I> | undefined;

  constructor(
    readonly item: I,
    private readonly queue: WaiterQueue<R, I>,
    private readonly resolve: (result: R) => void,
    private readonly reject: (reason: unknown) => void,
    private readonly signal: AbortSignal | undefined,
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

  /** Queues a waiter carrying `item` and returns its promise. */
  wait(item: I, signal: AbortSignal | undefined): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiter = new Waiter(item, this, resolve, reject, signal);
      waiter.prev = this.tail;
      if (this.tail === undefined) this.head = waiter;
      else this.tail.next = waiter;
      this.tail = waiter;
      this.count++;
    });
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

const nextPowerOfTwo = (n: number): number => (n >= 2 ** 30 ? 2 ** 30 : 2 ** Math.ceil(Math.log2(n)));
