import { getEventListeners } from 'node:events';
import { QueueClosedError } from '../../src/queues/errors/queue-closed.error.js';
import { QueueFullError } from '../../src/queues/errors/queue-full.error.js';
import { CHANNEL_DONE, MemoryChannel } from '../../src/queues/memory/memory-channel.js';

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether `promise` has settled, without waiting for it. */
async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'fulfilled'),
    () => (state = 'rejected'),
  );
  await flush();
  return state;
}

/** Empties the channel synchronously, oldest first. */
function shiftAll<T>(channel: MemoryChannel<T>): T[] {
  const items: T[] = [];
  while (channel.size > 0) items.push(channel.shift());
  return items;
}

/** Empties the channel synchronously, oldest first, as [item, tag] pairs. */
function shiftAllTagged<T>(channel: MemoryChannel<T>): Array<[T, number]> {
  const pairs: Array<[T, number]> = [];
  while (channel.size > 0) {
    const tag = channel.headTag;
    pairs.push([channel.shift(), tag]);
  }
  return pairs;
}

/** Reads until CHANNEL_DONE. */
async function readAll<T>(channel: MemoryChannel<T>): Promise<T[]> {
  const items: T[] = [];
  for (let item; (item = await channel.read()) !== CHANNEL_DONE; ) items.push(item);
  return items;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('MemoryChannel', () => {
  describe('as a FIFO', () => {
    it('gives items back in the order they were written, through read() and shift()', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      await channel.write('a');
      channel.tryWrite('b');
      await channel.write('c');

      expect(channel.size).toBe(3);
      expect(await channel.read()).toBe('a');
      expect(channel.shift()).toBe('b');
      expect(await channel.read()).toBe('c');
      expect(channel.size).toBe(0);
    });

    it('grows an unbounded channel over many storage segments, keeping order', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      // Start the head off slot 0 of the first segment.
      for (const i of range(1, 10)) channel.tryWrite(i);
      expect(shiftAll(channel).length).toBe(10);

      expect(range(1, 5_000).every((i) => channel.tryWrite(i))).toBe(true);
      expect(channel.size).toBe(5_000);
      expect(channel.capacity).toBeUndefined();
      expect(shiftAll(channel)).toEqual(range(1, 5_000));
    });

    it('keeps order when one segment is reused many times at a steady size', () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 5 });
      const read: number[] = [];
      for (const i of range(1, 1_000)) {
        channel.tryWrite(i);
        if (channel.size === 5) read.push(channel.shift(), channel.shift());
      }
      read.push(...shiftAll(channel));
      expect(read).toEqual(range(1, 1_000));
    });

    it('keeps the tag of each item beside it, across segments and when items are admitted from waiting writers', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 3_000 });
      for (const i of range(1, 3_000)) channel.tryWrite(`item ${i}`, 1_000_000 + i);
      const waiting = channel.write('late', new AbortController().signal, 42); // full: waits for room
      expect(channel.headTag).toBe(1_000_001);
      expect(channel.shift()).toBe('item 1');
      await waiting;

      const pairs = shiftAllTagged(channel);
      expect(pairs).toHaveLength(3_000);
      expect(pairs.slice(0, 2)).toEqual([['item 2', 1_000_002], ['item 3', 1_000_003]]);
      expect(pairs.at(-2)).toEqual(['item 3000', 1_003_000]);
      expect(pairs.at(-1)).toEqual(['late', 42]);
      expect(pairs.every(([item, tag]) => item === 'late' || item === `item ${tag - 1_000_000}`)).toBe(true);
    });

    it('keeps tags beyond 2^31 (a queue that has passed billions of items)', () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWrite('a', 2 ** 40 + 1);
      expect(channel.headTag).toBe(2 ** 40 + 1);
    });

    it('carries undefined and null items like any other item', async () => {
      const channel = new MemoryChannel<undefined | null>({ name: 'signals' });
      channel.tryWrite(undefined);
      channel.tryWrite(null);
      expect(channel.size).toBe(2);
      expect(await channel.read()).toBeUndefined();
      expect(channel.shift()).toBeNull();
    });

    it('refuses shift() on an empty channel with guidance', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      expect(() => channel.shift()).toThrow(RangeError);
      expect(() => channel.shift()).toThrow(
        'MemoryChannel.shift on queue "emails": the queue is empty; check size > 0 first',
      );
    });

    it('hands an item straight to a reader that was waiting for one', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      const reading = channel.read();
      expect(channel.waitingReaders).toBe(1);

      expect(channel.tryWrite('a')).toBe(true);
      expect(await reading).toBe('a');
      expect(channel.size).toBe(0);
      expect(channel.waitingReaders).toBe(0);
    });
  });

  describe("when a producer outruns the consumer with fullMode 'wait'", () => {
    it('holds the producer back at capacity and loses nothing', async () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 3 });
      let largestSize = 0;
      let producerWaited = false;
      const producer = (async () => {
        for (const i of range(1, 50)) {
          await channel.write(i);
          largestSize = Math.max(largestSize, channel.size);
        }
        channel.complete();
      })();
      const consumed: number[] = [];
      for (let item; (item = await channel.read()) !== CHANNEL_DONE; ) {
        consumed.push(item);
        producerWaited ||= channel.waitingWriters > 0;
        await flush(); // a slow consumer
      }
      await producer;

      expect(consumed).toEqual(range(1, 50));
      expect(largestSize).toBe(3);
      expect(producerWaited).toBe(true);
    });

    it('keeps a write pending while full and completes it when an item is read', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2 });
      await channel.write('a');
      await channel.write('b');
      const writing = channel.write('c');

      expect(await stateOf(writing)).toBe('pending');
      expect(channel.waitingWriters).toBe(1);
      expect(channel.tryWrite('x')).toBe(false);

      expect(channel.shift()).toBe('a');
      expect(await stateOf(writing)).toBe('fulfilled');
      expect(channel.waitingWriters).toBe(0);
      expect(shiftAll(channel)).toEqual(['b', 'c']);
    });

    it('admits waiting writers in the order they called', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a');
      const writes = ['b', 'c', 'd'].map((item) => channel.write(item));
      expect(channel.waitingWriters).toBe(3);

      const read = [await channel.read(), await channel.read(), await channel.read(), await channel.read()];
      await Promise.all(writes);
      expect(read).toEqual(['a', 'b', 'c', 'd']);
    });

    it('does not let tryWrite() jump ahead of writers already waiting', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a');
      const writing = channel.write('b');

      expect(channel.shift()).toBe('a');
      expect(channel.tryWrite('late')).toBe(false);
      await writing;
      expect(shiftAll(channel)).toEqual(['b']);
    });
  });

  describe("when a producer outruns the consumer with fullMode 'dropOldest'", () => {
    it('evicts the oldest queued items and reports each one to onDropped', async () => {
      const dropped: number[] = [];
      const channel = new MemoryChannel<number>({
        name: 'metrics',
        capacity: 3,
        fullMode: 'dropOldest',
        onDropped: (item) => dropped.push(item),
      });
      for (const i of range(1, 5)) expect(channel.tryWrite(i)).toBe(true);
      await channel.write(6);

      expect(shiftAll(channel)).toEqual([4, 5, 6]);
      expect(dropped).toEqual([1, 2, 3]);
    });
  });

  describe('when an eviction crosses a storage segment boundary', () => {
    // Segments hold 1,024 items: capacity 1,025 puts the newest item alone in a second segment.
    it('dropNewest steps the tail back into the previous segment and keeps every other item and tag', () => {
      const dropped: number[] = [];
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 1_025, fullMode: 'dropNewest', onDropped: (i) => dropped.push(i) });
      for (const i of range(1, 1_025)) channel.tryWrite(i, i);
      channel.tryWrite(9_001, 9_001); // evicts 1025, the only item of the second segment
      channel.tryWrite(9_002, 9_002); // evicts 9001
      expect(dropped).toEqual([1_025, 9_001]);
      expect(shiftAllTagged(channel)).toEqual([...range(1, 1_024), 9_002].map((i) => [i, i]));
      channel.tryWrite(7, 7);
      expect(shiftAllTagged(channel)).toEqual([[7, 7]]);
    });

    it('dropOldest moves the head into the next segment and keeps every other item and tag', () => {
      const dropped: number[] = [];
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 1_025, fullMode: 'dropOldest', onDropped: (i) => dropped.push(i) });
      for (const i of range(1, 1_025)) channel.tryWrite(i, i);
      for (const i of range(2_001, 2_030)) channel.tryWrite(i, i);
      expect(dropped).toEqual(range(1, 30));
      expect(shiftAllTagged(channel)).toEqual([...range(31, 1_025), ...range(2_001, 2_030)].map((i) => [i, i]));
    });

    it('drain() returns items from every segment, oldest first', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      for (const i of range(1, 2_500)) channel.tryWrite(i, i);
      for (let i = 0; i < 700; i++) channel.shift();
      expect(channel.drain()).toEqual(range(701, 2_500));
      channel.tryWrite(1, 5);
      expect(shiftAllTagged(channel)).toEqual([[1, 5]]);
    });
  });

  describe('waitToRead()', () => {
    it('resolves true at once when an item is queued, and takes nothing', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWrite('a', 1);
      expect(await channel.waitToRead()).toBe(true);
      expect(channel.size).toBe(1);
    });

    it('waits on an empty channel until a write, which stays queued for the caller to shift', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const waiting = channel.waitToRead();
      expect(channel.waitingReaders).toBe(1);
      expect(await stateOf(waiting)).toBe('pending');

      channel.tryWrite('a', 7);
      expect(await waiting).toBe(true);
      expect(channel.waitingReaders).toBe(0);
      expect(shiftAllTagged(channel)).toEqual([['a', 7]]);
    });

    it('wakes one waiter per item written', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const waits = [channel.waitToRead(), channel.waitToRead(), channel.waitToRead()];
      channel.tryWrite('a');
      channel.tryWrite('b');
      await flush();
      expect(await Promise.all(waits.map(stateOf))).toEqual(['fulfilled', 'fulfilled', 'pending']);
      channel.complete();
      expect(await waits[2]).toBe(false);
    });

    it('resolves false once completed and empty, but true while completed items remain', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWrite('a');
      channel.complete();
      expect(await channel.waitToRead()).toBe(true);
      channel.shift();
      expect(await channel.waitToRead()).toBe(false);
    });

    it('rejects with the reason when its signal aborts, and leaves no listener behind', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const controller = new AbortController();
      const reason = new Error('stop waiting');
      await expect(channel.waitToRead(AbortSignal.abort(reason))).rejects.toBe(reason);

      const waiting = channel.waitToRead(controller.signal);
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(channel.waitingReaders).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('is served after read(): a waiting read() takes a written item first', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const waiting = channel.waitToRead();
      const reading = channel.read();
      channel.tryWrite('a');
      expect(await reading).toBe('a');
      expect(await stateOf(waiting)).toBe('pending');
      channel.tryWrite('b');
      expect(await waiting).toBe(true);
    });
  });

  describe("when a producer outruns the consumer with fullMode 'dropNewest'", () => {
    it('evicts the most recently queued item to make room, as Channels DropNewest', async () => {
      const dropped: number[] = [];
      const channel = new MemoryChannel<number>({
        name: 'metrics',
        capacity: 3,
        fullMode: 'dropNewest',
        onDropped: (item) => dropped.push(item),
      });
      for (const i of range(1, 5)) expect(channel.tryWrite(i)).toBe(true);
      await channel.write(6);

      expect(shiftAll(channel)).toEqual([1, 2, 6]);
      expect(dropped).toEqual([3, 4, 5]);
    });

    it('drops without a hook when no onDropped is given', () => {
      const channel = new MemoryChannel<number>({ name: 'metrics', capacity: 1, fullMode: 'dropNewest' });
      channel.tryWrite(1);
      channel.tryWrite(2);
      expect(shiftAll(channel)).toEqual([2]);
    });
  });

  describe('when onDropped throws', () => {
    it('passes the error to the writer, after the new item was queued', async () => {
      const failure = new Error('hook failed');
      const channel = new MemoryChannel<number>({
        name: 'metrics',
        capacity: 1,
        fullMode: 'dropOldest',
        onDropped: () => {
          throw failure;
        },
      });
      channel.tryWrite(1);
      await expect(channel.write(2)).rejects.toBe(failure);
      expect(() => channel.tryWrite(3)).toThrow(failure);
      expect(shiftAll(channel)).toEqual([3]);
    });
  });

  describe("when a producer outruns the consumer with fullMode 'reject'", () => {
    it('fails the write with QueueFullError and keeps what is queued', async () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 2, fullMode: 'reject' });
      await channel.write(1);
      await channel.write(2);

      const error = await channel.write(3).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueueFullError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ name: 'QueueFullError', queueName: 'emails', capacity: 2 });
      expect((error as QueueFullError).message).toBe(
        `Queue "emails" is full (capacity 2, fullMode 'reject'); ` +
          `use fullMode 'wait' to hold producers back until there is room, or raise the capacity`,
      );
      expect(() => channel.tryWrite(3)).toThrow(QueueFullError);
      expect(channel.waitingWriters).toBe(0);
      expect(shiftAll(channel)).toEqual([1, 2]);
    });
  });

  describe('when the signal of a waiting write aborts', () => {
    it('rejects that write with the reason, removes it, and later writes still work', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a');
      const controller = new AbortController();
      const reason = new Error('request cancelled');
      const writing = channel.write('b', controller.signal);
      expect(channel.waitingWriters).toBe(1);

      controller.abort(reason);
      await expect(writing).rejects.toBe(reason);
      expect(channel.waitingWriters).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

      expect(channel.shift()).toBe('a');
      await channel.write('c');
      expect(shiftAll(channel)).toEqual(['c']);
    });

    it('keeps the other waiting writers in their order', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a');
      const controllers = [new AbortController(), new AbortController(), new AbortController()];
      const writes = ['b', 'c', 'd'].map((item, i) => channel.write(item, controllers[i].signal));

      controllers[1].abort();
      await expect(writes[1]).rejects.toMatchObject({ name: 'AbortError' });
      expect(channel.waitingWriters).toBe(2);

      const read = [channel.shift(), channel.shift(), channel.shift()];
      await Promise.all([writes[0], writes[2]]);
      expect(read).toEqual(['a', 'b', 'd']);
    });
  });

  describe('when the signal is already aborted', () => {
    it('rejects write() at once, even with room, and writes nothing', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const reason = new Error('too late');
      await expect(channel.write('a', AbortSignal.abort(reason))).rejects.toBe(reason);
      expect(channel.size).toBe(0);
    });

    it('rejects read() at once, even with items, and consumes nothing', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWrite('a');
      const reason = new Error('too late');
      await expect(channel.read(AbortSignal.abort(reason))).rejects.toBe(reason);
      expect(channel.size).toBe(1);
    });
  });

  describe('when the signal of a waiting read aborts', () => {
    it('rejects that read, and the next item goes to the next reader', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const controller = new AbortController();
      const first = channel.read(controller.signal);
      const second = channel.read();

      controller.abort();
      await expect(first).rejects.toMatchObject({ name: 'AbortError' });
      expect(channel.waitingReaders).toBe(1);

      channel.tryWrite('a');
      expect(await second).toBe('a');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });
  });

  describe('with one long-lived signal', () => {
    it('leaves no abort listener behind once waits settle', async () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 1 });
      const { signal } = new AbortController();
      const consumer = (async () => {
        const items: number[] = [];
        for (let item; (item = await channel.read(signal)) !== CHANNEL_DONE; ) items.push(item);
        return items;
      })();
      for (const i of range(1, 100)) await channel.write(i, signal);
      channel.complete();

      expect(await consumer).toEqual(range(1, 100));
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    });
  });

  describe('when completed', () => {
    it('rejects new writes with QueueClosedError', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.complete();

      const error = await channel.write('a').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueueClosedError);
      expect(error).toMatchObject({ name: 'QueueClosedError', queueName: 'emails' });
      expect((error as Error).message).toBe(
        'Queue "emails" is closed: it no longer accepts items (the host is shutting down)',
      );
      expect(() => channel.tryWrite('a')).toThrow(QueueClosedError);
      expect(channel.isCompleted).toBe(true);
    });

    it('rejects writers that were waiting for room, without queuing their items', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a');
      const writes = [channel.write('b'), channel.write('c')];

      channel.complete();
      for (const writing of writes) await expect(writing).rejects.toBeInstanceOf(QueueClosedError);
      expect(channel.waitingWriters).toBe(0);
      expect(await readAll(channel)).toEqual(['a']);
    });

    it('lets readers drain what is queued, then gives them CHANNEL_DONE every time', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWrite('a');
      channel.tryWrite('b');
      channel.complete();

      expect(await channel.read()).toBe('a');
      expect(await channel.read()).toBe('b');
      expect(await channel.read()).toBe(CHANNEL_DONE);
      expect(await channel.read()).toBe(CHANNEL_DONE);
    });

    it('wakes readers waiting on an empty channel with CHANNEL_DONE', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const reads = [channel.read(), channel.read()];
      channel.complete();
      expect(await Promise.all(reads)).toEqual([CHANNEL_DONE, CHANNEL_DONE]);
      expect(channel.waitingReaders).toBe(0);
    });

    it('can be completed twice', () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.complete();
      expect(() => channel.complete()).not.toThrow();
    });
  });

  describe('with concurrent readers', () => {
    it('serves waiting readers in the order they called', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      const reads = [channel.read(), channel.read(), channel.read()];
      expect(channel.waitingReaders).toBe(3);

      for (const item of ['a', 'b', 'c']) await channel.write(item);
      expect(await Promise.all(reads)).toEqual(['a', 'b', 'c']);
    });

    it('shares the items among consumer loops with none lost or read twice', async () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 4 });
      const consumers = [readAll(channel), readAll(channel), readAll(channel)];
      for (const i of range(1, 300)) await channel.write(i);
      channel.complete();

      const perConsumer = await Promise.all(consumers);
      for (const items of perConsumer) {
        expect(items.length).toBeGreaterThan(0);
        expect(items).toEqual([...items].sort((a, b) => a - b)); // each consumer sees them in order
      }
      expect(perConsumer.flat().sort((a, b) => a - b)).toEqual(range(1, 300));
    });
  });

  describe('drain()', () => {
    it('removes and returns everything queued, oldest first, without calling onDropped', () => {
      const dropped: number[] = [];
      const channel = new MemoryChannel<number>({ name: 'emails', onDropped: (item) => dropped.push(item) });
      for (const i of range(1, 20)) channel.tryWrite(i);
      channel.shift();
      channel.complete();

      expect(channel.drain()).toEqual(range(2, 20));
      expect(channel.size).toBe(0);
      expect(dropped).toEqual([]);
      expect(channel.drain()).toEqual([]);
    });

    it('leaves readers with CHANNEL_DONE once completed', async () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      channel.tryWrite(1);
      channel.complete();
      channel.drain();
      expect(await channel.read()).toBe(CHANNEL_DONE);
    });

    it('gives the freed room to writers still waiting, when not completed', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2 });
      channel.tryWrite('a');
      channel.tryWrite('b');
      const writes = [channel.write('c'), channel.write('d'), channel.write('e')];

      expect(channel.drain()).toEqual(['a', 'b']);
      await Promise.all(writes.slice(0, 2));
      expect(await stateOf(writes[2])).toBe('pending');
      expect(channel.waitingWriters).toBe(1);
      expect(shiftAll(channel)).toEqual(['c', 'd', 'e']);
      await writes[2];
    });

    it('keeps working as a channel afterwards', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      for (const i of range(1, 100)) channel.tryWrite(i);
      channel.drain();
      for (const i of range(1, 40)) channel.tryWrite(i);
      expect(shiftAll(channel)).toEqual(range(1, 40));
    });
  });

  describe('options', () => {
    it('exposes name, capacity and fullMode, with fullMode defaulting to wait', () => {
      const channel = new MemoryChannel<number>({ name: 'emails', capacity: 10 });
      expect(channel).toMatchObject({ name: 'emails', capacity: 10, fullMode: 'wait', isCompleted: false });
    });

    it.each([0, -1, 1.5, NaN, Infinity])('rejects capacity %p, quoting it and the queue', (capacity) => {
      expect(() => new MemoryChannel({ name: 'emails', capacity })).toThrow(
        new TypeError(
          'Queue "emails": option "capacity" must be a positive integer, or omitted for an unbounded queue, ' +
            `got ${capacity}`,
        ),
      );
    });

    it('quotes a capacity given as a string', () => {
      expect(() => new MemoryChannel({ name: 'emails', capacity: '10' as unknown as number })).toThrow(
        'Queue "emails": option "capacity" must be a positive integer, or omitted for an unbounded queue, got "10"',
      );
    });

    it('rejects an unknown fullMode, quoting it', () => {
      const create = () => new MemoryChannel({ name: 'emails', capacity: 1, fullMode: 'drop' as 'wait' });
      expect(create).toThrow(TypeError);
      expect(create).toThrow(
        `Queue "emails": option "fullMode" must be one of 'wait', 'dropOldest', 'dropNewest', 'reject', got "drop"`,
      );
    });

    it('rejects an empty name and an onDropped that is not a function', () => {
      expect(() => new MemoryChannel({ name: '' })).toThrow(
        new TypeError('MemoryChannel: option "name" must be a non-empty string, got ""'),
      );
      expect(() => new MemoryChannel({ name: 'emails', onDropped: 'log' as unknown as () => void })).toThrow(
        new TypeError('Queue "emails": option "onDropped" must be a function, got "log"'),
      );
    });
  });

  describe('with priorities', () => {
    /** Writes [item, priority] pairs with growing tags 1, 2, 3, … (as a queue's ids grow). */
    const writeAll = (channel: MemoryChannel<string>, pairs: Array<[string, number]>) =>
      pairs.map(([item, priority], i) => channel.tryWritePrioritized(item, i + 1, priority));

    it('reads items without a priority first, then lower priority numbers first, first in first out within one', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      writeAll(channel, [
        ['p5-a', 5],
        ['plain-a', 0],
        ['p1-a', 1],
        ['p5-b', 5],
        ['plain-b', 0],
        ['p1-b', 1],
        ['p3', 3],
      ]);
      channel.tryWrite('plain-c', 8);
      expect(channel.size).toBe(8);
      expect(channel.headTag).toBe(2);
      expect(await channel.read()).toBe('plain-a');
      expect(shiftAllTagged(channel)).toEqual([
        ['plain-b', 5],
        ['plain-c', 8],
        ['p1-a', 3],
        ['p1-b', 6],
        ['p3', 7],
        ['p5-a', 1],
        ['p5-b', 4],
      ]);
    });

    it('keeps the order of many items in many priorities (the heap against a sort)', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      const priorities = range(1, 2_000).map((i) => (i * 7919) % 13);
      priorities.forEach((priority, i) => channel.tryWritePrioritized(i, i + 1, priority));
      const expected = priorities.map((priority, i) => ({ priority, i })).sort((a, b) => a.priority - b.priority || a.i - b.i);
      expect(shiftAll(channel)).toEqual(expected.map((e) => e.i));
    });

    it('counts prioritized items against the capacity, and a waiting writer with a priority joins its rank when admitted', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 3 });
      writeAll(channel, [
        ['p2', 2],
        ['p1', 1],
        ['plain', 0],
      ]);
      expect(channel.tryWrite('late', 4)).toBe(false);
      expect(channel.tryWritePrioritized('late-p1', 4, 1)).toBe(false);
      const waiting = channel.write('waiting-p1', undefined, 5, 1);
      expect(await stateOf(waiting)).toBe('pending');
      expect(channel.shift()).toBe('plain'); // frees a slot: the writer gets it, among the priority-1 items
      expect(await stateOf(waiting)).toBe('fulfilled');
      expect(shiftAll(channel)).toEqual(['p1', 'waiting-p1', 'p2']);
    });

    it("dropOldest evicts the longest-waiting item whatever its priority", () => {
      const dropped: string[] = [];
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 3, fullMode: 'dropOldest', onDropped: (item) => dropped.push(item) });
      writeAll(channel, [
        ['p5', 5],
        ['plain-a', 0],
        ['p1', 1],
        ['plain-b', 0], // full: the oldest is p5 (tag 1)
        ['p2', 2], // the oldest now is plain-a (tag 2)
      ]);
      expect(dropped).toEqual(['p5', 'plain-a']);
      expect(channel.size).toBe(3);
      expect(shiftAll(channel)).toEqual(['plain-b', 'p1', 'p2']);
    });

    it("dropNewest evicts the most recently written item whatever its priority", () => {
      const dropped: string[] = [];
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2, fullMode: 'dropNewest', onDropped: (item) => dropped.push(item) });
      writeAll(channel, [
        ['plain-a', 0],
        ['p3', 3],
        ['plain-b', 0], // evicts p3 (tag 2, the newest)
        ['p1', 1], // evicts plain-b (tag 3)
      ]);
      expect(dropped).toEqual(['p3', 'plain-b']);
      expect(shiftAll(channel)).toEqual(['plain-a', 'p1']);
    });

    it("dropOldest on a channel full of prioritized items only, and 'reject' counting them", () => {
      const dropped: string[] = [];
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2, fullMode: 'dropOldest', onDropped: (item) => dropped.push(item) });
      writeAll(channel, [
        ['p1', 1],
        ['p2', 2],
      ]);
      channel.tryWrite('plain', 3);
      expect(dropped).toEqual(['p1']);
      expect(shiftAll(channel)).toEqual(['plain', 'p2']);
      const strict = new MemoryChannel<string>({ name: 'emails', capacity: 1, fullMode: 'reject' });
      strict.tryWritePrioritized('p1', 1, 1);
      expect(() => strict.tryWrite('plain', 2)).toThrow(QueueFullError);
    });

    it('drain() returns the prioritized items too, and admits waiting writers into the freed room', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2 });
      writeAll(channel, [
        ['p1', 1],
        ['plain', 0],
      ]);
      const waiting = channel.write('late', undefined, 3, 2);
      expect(channel.drain()).toEqual(['plain', 'p1']);
      expect(await stateOf(waiting)).toBe('fulfilled');
      expect(shiftAll(channel)).toEqual(['late']);
    });

    it('tryWritePrioritized with priority 0 is tryWrite', () => {
      const channel = new MemoryChannel<string>({ name: 'emails' });
      channel.tryWritePrioritized('p1', 1, 1);
      channel.tryWritePrioritized('plain', 2, 0);
      expect(shiftAll(channel)).toEqual(['plain', 'p1']);
    });
  });

  describe('offer()', () => {
    it.each(['wait', 'dropOldest', 'dropNewest', 'reject'] as const)("returns false when full in '%s' mode, evicting and throwing nothing", (fullMode) => {
      const dropped: string[] = [];
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2, fullMode, onDropped: (item) => dropped.push(item) });
      expect(channel.offer('a', 1)).toBe(true);
      expect(channel.offer('b', 2)).toBe(true);
      expect(channel.offer('c', 3)).toBe(false);
      expect(dropped).toEqual([]);
      expect(shiftAllTagged(channel)).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
    });

    it('hands the item to a waiting reader, and throws QueueClosedError once completed', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      const reading = channel.read();
      expect(channel.offer('a')).toBe(true);
      expect(await reading).toBe('a');
      channel.complete();
      expect(() => channel.offer('b')).toThrow(QueueClosedError);
    });
  });

  describe('removeWhere()', () => {
    it('removes an item from the middle of the plain items (across segments), keeping the order and tags of the rest', () => {
      const channel = new MemoryChannel<number>({ name: 'emails' });
      for (const i of range(1, 3_000)) channel.tryWrite(i, 100 + i);
      expect(channel.removeWhere((_, tag) => tag === 100 + 1_500)).toEqual({ item: 1_500, tag: 1_600 });
      expect(channel.removeWhere((item) => item === 1)).toEqual({ item: 1, tag: 101 });
      expect(channel.removeWhere((item) => item === 3_000)).toEqual({ item: 3_000, tag: 3_100 });
      expect(channel.removeWhere((item) => item === 1_500)).toBeUndefined();
      expect(channel.size).toBe(2_997);
      const pairs = shiftAllTagged(channel);
      expect(pairs.map(([item]) => item)).toEqual(range(2, 2_999).filter((i) => i !== 1_500));
      expect(pairs.every(([item, tag]) => tag === 100 + item)).toBe(true);
    });

    it('removes a prioritized item, and gives the freed room to a waiting writer', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 2 });
      channel.tryWritePrioritized('p1', 1, 1);
      channel.tryWritePrioritized('p2', 2, 2);
      const waiting = channel.write('late', undefined, 3);
      expect(channel.removeWhere((item) => item === 'p1')).toEqual({ item: 'p1', tag: 1 });
      expect(await stateOf(waiting)).toBe('fulfilled');
      expect(shiftAll(channel)).toEqual(['late', 'p2']);
    });

    it('removes an item still waiting for room: its write resolves (taken in, and removed at once)', async () => {
      const channel = new MemoryChannel<string>({ name: 'emails', capacity: 1 });
      channel.tryWrite('a', 1);
      const first = channel.write('b', undefined, 2);
      const second = channel.write('c', undefined, 3);
      expect(channel.removeWhere((_, tag) => tag === 2)).toEqual({ item: 'b', tag: 2 });
      expect(await stateOf(first)).toBe('fulfilled');
      expect(channel.waitingWriters).toBe(1);
      expect(shiftAll(channel)).toEqual(['a', 'c']);
      await second;
    });
  });
});
