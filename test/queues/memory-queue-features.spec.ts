/**
 * Issue 14's producer side on the memory backend: the shared suite (queue-producer.behaviour.ts),
 * then what only the memory backend has or does its own way — priorities with the full modes,
 * tryEnqueue, the delayed items on the host's clock (VirtualTime), dead-letter bounds, idTtlMs.
 */
import { Injectable } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueClosedError,
  QueueFullError,
  QueueWorker,
  type JobContext,
  type QueueFullMode,
  type QueueOptions,
  type QueueWorkerOptions,
  type WorkQueue,
} from '../../src/index.js';
import { MemoryQueueBackend } from '../../src/queues/memory/memory-queue-backend.js';
import { VirtualTime } from '../../src/testing/index.js';
import { closeLeftOpenApps, startHostingApp, waitFor } from '../support/hosting-app.js';
import { describeQueueProducerBehaviour } from './queue-producer.behaviour.js';

let counter = 0;
describeQueueProducerBehaviour('memory', () => ({
  queueOptions: () => ({}),
  hostingOptions: () => ({}),
  uniqueName: (base) => `${base}-${++counter}`,
}));

const tracked = closeLeftOpenApps();

interface Seen<T> {
  item: T;
  id: string;
  attempt: number;
  at: number;
}

/**
 * A memory queue in a real app on virtual time: the worker records each delivery (with the virtual
 * instant) and runs `handle`; `dropped` records onDropped.
 */
async function memoryQueue<T>(
  options: { queue?: Partial<QueueOptions>; worker?: QueueWorkerOptions; handle?: (item: T, ctx: JobContext) => unknown; time?: VirtualTime } = {},
) {
  const name = `features-${++counter}`;
  const time = options.time ?? new VirtualTime();
  const seen: Array<Seen<T>> = [];
  const dropped: Array<{ item: T; reason: string }> = [];
  const failed: T[] = [];
  @Injectable()
  class Producer {
    constructor(@InjectQueue(name) readonly queue: WorkQueue<T>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker(name, options.worker ?? {})
    handle(item: T, ctx: JobContext) {
      seen.push({ item, id: ctx.id, attempt: ctx.attempt, at: time.monotonic() });
      return options.handle?.(item, ctx);
    }
  }
  const { app, logger } = await startHostingApp({
    imports: [
      HostingModule.registerQueue({
        name,
        onDropped: (item, reason) => dropped.push({ item: item as T, reason }),
        onFailed: (item) => failed.push(item as T),
        ...options.queue,
      }),
    ],
    providers: [Producer, Worker],
    hosting: { timeProvider: time, shutdownTimeoutMs: 5_000 },
  });
  tracked(app);
  const registry = app.get(HostingRegistry);
  return { app, logger, name, time, queue: app.get(Producer).queue, registry, seen, dropped, failed, items: () => seen.map((s) => s.item) };
}

describe('memory backend: priorities and the full modes', () => {
  it.each([
    ['dropOldest', ['p5', 'none-a'], ['none-b', 'p1', 'p2']],
    ['dropNewest', ['p1', 'none-b'], ['none-a', 'p2', 'p5']],
  ] as const)("%s evicts across priorities by age: capacity counts every waiting item", async (fullMode, evicted, handled) => {
    const q = await memoryQueue<string>({ queue: { capacity: 3, fullMode: fullMode as QueueFullMode } });
    q.registry.pause(q.name);
    await q.queue.enqueue('p5', { priority: 5 });
    await q.queue.enqueue('none-a');
    await q.queue.enqueue('p1', { priority: 1 });
    expect(q.queue.depth).toBe(3);
    await q.queue.enqueue('none-b'); // full: dropOldest evicts p5 (the oldest), dropNewest p1 (the newest)
    await q.queue.enqueue('p2', { priority: 2 }); // dropOldest evicts none-a, dropNewest none-b
    expect(q.queue.depth).toBe(3);
    expect(q.dropped).toEqual(evicted.map((item) => ({ item, reason: fullMode })));
    q.registry.resume(q.name);
    await q.time.settle();
    expect(q.items()).toEqual(handled);
    await q.app.close();
  });

  it("'wait': a prioritized enqueue waits for room and then takes its rank; 'reject' counts prioritized items", async () => {
    const q = await memoryQueue<string>({ queue: { capacity: 2 } });
    q.registry.pause(q.name);
    await q.queue.enqueue('p3', { priority: 3 });
    await q.queue.enqueue('none');
    let admitted = false;
    const waiting = q.queue.enqueue('p1', { priority: 1 }).then(() => (admitted = true));
    await q.time.settle();
    expect(admitted).toBe(false);
    q.registry.resume(q.name);
    await waiting;
    await q.time.settle();
    expect(q.items()).toEqual(['none', 'p1', 'p3']);
    await q.app.close();

    const strict = await memoryQueue<string>({ queue: { capacity: 1, fullMode: 'reject' } });
    strict.registry.pause(strict.name);
    await strict.queue.enqueue('p1', { priority: 1 });
    await expect(strict.queue.enqueue('none')).rejects.toBeInstanceOf(QueueFullError);
    await expect(strict.queue.enqueue('p2', { priority: 2 })).rejects.toBeInstanceOf(QueueFullError);
    await strict.app.close();
  });

  it('an id taken by an item waiting for room stays taken; the id is free again when the wait fails', async () => {
    const q = await memoryQueue<string>({ queue: { capacity: 1 } });
    q.registry.pause(q.name);
    await q.queue.enqueue('first');
    const controller = new AbortController();
    const waiting = q.queue.enqueue('keyed', { id: 'k', signal: controller.signal });
    expect(await q.queue.enqueue('duplicate', { id: 'k' })).toBe('k');
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    q.registry.resume(q.name);
    await q.time.settle();
    expect(await q.queue.enqueue('keyed again', { id: 'k' })).toBe('k');
    await q.time.settle();
    expect(q.items()).toEqual(['first', 'keyed again']);
    await q.app.close();
  });
});

describe('memory backend: tryEnqueue', () => {
  it.each(['wait', 'dropOldest', 'dropNewest', 'reject'] as const)("returns false when full in '%s' mode: no eviction, no throw", async (fullMode) => {
    const q = await memoryQueue<number>({ queue: { capacity: 2, fullMode } });
    q.registry.pause(q.name);
    expect(q.queue.tryEnqueue(1)).toBe(true);
    expect(q.queue.tryEnqueue(2)).toBe(true);
    expect(q.queue.tryEnqueue(3)).toBe(false);
    expect(q.dropped).toEqual([]);
    expect(q.queue.depth).toBe(2);
    q.registry.resume(q.name);
    await q.time.settle();
    expect(q.items()).toEqual([1, 2]);
    await q.app.close();
  });

  it('adds items that run in order with the ids enqueue would have given; throws QueueClosedError once the queue closed', async () => {
    const q = await memoryQueue<number>();
    expect(q.queue.tryEnqueue(1)).toBe(true);
    expect(q.queue.tryEnqueue(2)).toBe(true);
    const third = await q.queue.enqueue(3);
    await q.time.settle();
    expect(q.seen.map((s) => [s.item, s.id])).toEqual([
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ]);
    expect(third).toBe('3');
    const backend = new MemoryQueueBackend<number>({ name: 'closed', onDropped: () => undefined });
    backend.closeIntake();
    expect(() => backend.tryEnqueue(1)).toThrow(QueueClosedError);
    await q.app.close();
  });
});

describe('memory backend: delayed items on the host clock', () => {
  it('delivers each at its due instant, in due order, before the queued items; they count in depth', async () => {
    const q = await memoryQueue<string>();
    await q.queue.enqueue('at-300', { delayMs: 300 });
    await q.queue.enqueue('at-100', { delayMs: 100 });
    await q.queue.enqueue('at-100-b', { delayMs: 100 });
    await q.queue.enqueue('at-200', { runAt: new Date(q.time.now() + 200) });
    expect(q.queue.depth).toBe(4);
    expect(q.time.pendingTimers).toBe(1); // one timer, for the earliest
    await q.time.advance(99);
    expect(q.items()).toEqual([]);
    await q.time.advance(1);
    expect(q.seen.map((s) => [s.item, s.at])).toEqual([
      ['at-100', 100],
      ['at-100-b', 100],
    ]);
    expect(q.queue.depth).toBe(2);
    await q.time.advance(200);
    expect(q.seen.map((s) => [s.item, s.at])).toEqual([
      ['at-100', 100],
      ['at-100-b', 100],
      ['at-200', 200],
      ['at-300', 300],
    ]);
    expect(q.queue.depth).toBe(0);
    expect(q.time.pendingTimers).toBe(0);
    await q.app.close();
  });

  it('a due delayed item goes before the items already queued', async () => {
    const q = await memoryQueue<string>();
    q.registry.pause(q.name);
    await q.queue.enqueue('queued-a');
    await q.queue.enqueue('delayed', { delayMs: 50 });
    await q.queue.enqueue('queued-b');
    await q.time.advance(50);
    q.registry.resume(q.name);
    await q.time.settle();
    expect(q.items()).toEqual(['delayed', 'queued-a', 'queued-b']);
    await q.app.close();
  });

  it('an earlier delay enqueued later re-arms the one timer; a cancel of the earliest re-arms it for the next', async () => {
    const q = await memoryQueue<string>();
    await q.queue.enqueue('late', { delayMs: 1_000 });
    await q.queue.enqueue('early', { delayMs: 10, id: 'early' });
    await q.queue.enqueue('middle', { delayMs: 500 });
    expect(q.time.pendingTimers).toBe(1);
    expect(q.time.nextTimerAt?.getTime()).toBe(q.time.now() + 10);
    expect(await q.queue.cancel('early')).toBe('removed');
    expect(q.time.nextTimerAt?.getTime()).toBe(q.time.now() + 500);
    await q.time.advance(1_000);
    expect(q.seen.map((s) => [s.item, s.at])).toEqual([
      ['middle', 500],
      ['late', 1_000],
    ]);
    await q.app.close();
  });

  it('drain() waits for delayed items; a stop before they are due reports them undelivered (onDropped shutdown)', async () => {
    const q = await memoryQueue<string>();
    await q.queue.enqueue('soon', { delayMs: 100 });
    let drained = false;
    const draining = q.queue.drain().then(() => (drained = true));
    await q.time.advance(50);
    expect(drained).toBe(false);
    await q.time.advance(50);
    await draining;
    expect(q.items()).toEqual(['soon']);

    await q.queue.enqueue('never', { delayMs: 60_000 });
    await q.app.close();
    expect(q.items()).toEqual(['soon']);
    expect(q.dropped).toEqual([{ item: 'never', reason: 'shutdown' }]);
    expect(q.time.pendingTimers).toBe(0);
  });
});

describe('memory backend: ids', () => {
  it('idTtlMs holds the id for that long after the enqueue (host clock), then frees it', async () => {
    const q = await memoryQueue<string>();
    expect(await q.queue.enqueue('first', { id: 'mail', idTtlMs: 1_000 })).toBe('mail');
    await q.time.settle();
    expect(await q.queue.enqueue('held', { id: 'mail', idTtlMs: 1_000 })).toBe('mail');
    await q.time.advance(999);
    expect(await q.queue.enqueue('still held', { id: 'mail' })).toBe('mail');
    await q.time.advance(1);
    expect(await q.queue.enqueue('free', { id: 'mail' })).toBe('mail');
    await q.time.settle();
    expect(q.items()).toEqual(['first', 'free']);
    await q.app.close();
  });

  it('a running item holds its id; an item with a given id that is retried keeps it (ctx.id) on every try', async () => {
    const q = await memoryQueue<string>({
      worker: { attempts: 2, backoff: { type: 'fixed', delayMs: 100 } },
      handle: (item, ctx) => {
        if (item === 'flaky' && ctx.attempt === 1) throw new Error('first try fails');
      },
    });
    await q.queue.enqueue('flaky', { id: 'f' });
    await q.time.settle();
    expect(await q.queue.enqueue('duplicate while retry waits', { id: 'f' })).toBe('f');
    await q.time.advance(100);
    expect(q.seen.map((s) => [s.item, s.id, s.attempt])).toEqual([
      ['flaky', 'f', 1],
      ['flaky', 'f', 2],
    ]);
    expect(await q.queue.enqueue('after', { id: 'f' })).toBe('f');
    await q.time.settle();
    expect(q.items()).toEqual(['flaky', 'flaky', 'after']);
    await q.app.close();
  });

  it('an id evicted by the full mode is free again', async () => {
    const q = await memoryQueue<string>({ queue: { capacity: 1, fullMode: 'dropOldest' } });
    q.registry.pause(q.name);
    await q.queue.enqueue('evicted', { id: 'e' });
    await q.queue.enqueue('newer');
    expect(q.dropped).toEqual([{ item: 'evicted', reason: 'dropOldest' }]);
    expect(await q.queue.enqueue('back', { id: 'e' })).toBe('e');
    q.registry.resume(q.name);
    await q.time.settle();
    expect(q.items()).toEqual(['back']);
    await q.app.close();
  });
});

describe('memory backend: cancel', () => {
  it('removes an item waiting out its retry backoff, and one still waiting for room (its enqueue resolves)', async () => {
    const q = await memoryQueue<string>({
      queue: { capacity: 1 },
      worker: { attempts: 3, backoff: { type: 'fixed', delayMs: 1_000 } },
      handle: (item) => {
        if (item === 'failing') throw new Error('fails');
      },
    });
    const failing = await q.queue.enqueue('failing');
    await q.time.settle();
    expect(q.queue.depth).toBe(1); // waiting out its backoff
    expect(await q.queue.cancel(failing)).toBe('removed');
    expect(q.queue.depth).toBe(0);
    expect(q.time.pendingTimers).toBe(0);

    q.registry.pause(q.name);
    await q.queue.enqueue('fills');
    const waiting = q.queue.enqueue('waits', { id: 'w' });
    expect(await q.queue.cancel('w')).toBe('removed');
    expect(await waiting).toBe('w');
    q.registry.resume(q.name);
    await q.time.settle();
    expect(q.items()).toEqual(['failing', 'fills']);
    expect(q.registry.get(q.name)).toMatchObject({ cancelled: 2 });
    await q.app.close();
  });
});

describe('memory backend: dead letters', () => {
  const failing = { worker: { attempts: 1 }, handle: (item: number) => { throw new Error(`item ${item} failed`); } };

  it('keeps the newest `count`; the ones let go free their ids', async () => {
    const q = await memoryQueue<number>({ ...failing, queue: { deadLetters: { count: 2 } } });
    for (const n of [1, 2, 3]) await q.queue.enqueue(n, { id: `n-${n}` });
    await q.time.settle();
    const page = await q.registry.deadLetters<number>(q.name);
    expect(page.total).toBe(2);
    expect(page.items.map((letter) => letter.data)).toEqual([3, 2]);
    expect(q.registry.get(q.name)).toMatchObject({ deadLetters: 2 });
    expect(await q.queue.enqueue(1, { id: 'n-1' })).toBe('n-1'); // let go: free, so it runs (and fails) again
    await q.time.settle();
    expect(q.items()).toEqual([1, 2, 3, 1]);
    await q.app.close();
  });

  it('with ageMs, lets go of letters older than it on the host clock', async () => {
    const q = await memoryQueue<number>({ ...failing, queue: { deadLetters: { ageMs: 1_000 } } });
    await q.queue.enqueue(1);
    await q.time.settle();
    await q.time.advance(600);
    await q.queue.enqueue(2);
    await q.time.settle();
    expect((await q.registry.deadLetters(q.name)).total).toBe(2);
    await q.time.advance(400);
    const page = await q.registry.deadLetters<number>(q.name);
    expect(page.items.map((letter) => [letter.data, letter.failedAt.getTime()])).toEqual([[2, q.time.now() - 400]]);
    await q.app.close();
  });

  it('deadLetters: false keeps none, and the id of a failed item is free at once', async () => {
    const q = await memoryQueue<number>({ ...failing, queue: { deadLetters: false } });
    await q.queue.enqueue(1, { id: 'one' });
    await q.time.settle();
    expect(q.failed).toEqual([1]);
    expect(await q.registry.deadLetters(q.name)).toEqual({ total: 0, items: [] });
    expect(q.registry.get(q.name)).toMatchObject({ deadLetters: 0 });
    expect(await q.registry.redrive(q.name)).toBe(0);
    await q.queue.enqueue(1, { id: 'one' });
    await q.time.settle();
    expect(q.items()).toEqual([1, 1]);
    await q.app.close();
  });

  it('redrive() puts every letter back oldest first, with its headers-free data, priority and id; in fullMode wait it waits for room', async () => {
    let healed = false;
    const q = await memoryQueue<number>({
      queue: { capacity: 1 },
      worker: { attempts: 1 },
      handle: (item) => {
        if (!healed) throw new Error(`item ${item} failed`);
      },
    });
    const first = await q.queue.enqueue(1);
    await q.queue.enqueue(2, { id: 'two', priority: 4 });
    await q.queue.enqueue(3);
    await q.time.settle();
    expect((await q.registry.deadLetters(q.name)).total).toBe(3);
    healed = true;
    q.registry.pause(q.name);
    let redriven: number | undefined;
    const redriving = q.registry.redrive(q.name).then((n) => (redriven = n));
    await q.time.settle();
    expect(redriven).toBeUndefined(); // capacity 1: waits for room for the second and third
    q.registry.resume(q.name);
    await redriving;
    await q.time.settle();
    expect(redriven).toBe(3);
    expect(q.seen.slice(3).map((s) => [s.item, s.id, s.attempt])).toEqual([
      [1, first, 1],
      [2, 'two', 1],
      [3, '3', 1],
    ]);
    expect((await q.registry.deadLetters(q.name)).total).toBe(0);
    await q.app.close();
  });

  it("redrive in fullMode 'reject' stops at the first letter that does not fit: the rest stay dead letters", async () => {
    let healed = false;
    const q = await memoryQueue<number>({
      queue: { capacity: 1, fullMode: 'reject' },
      worker: { attempts: 1 },
      handle: (item) => {
        if (!healed) throw new Error(`item ${item} failed`);
      },
    });
    await q.queue.enqueue(1);
    await q.time.settle();
    await q.queue.enqueue(2);
    await q.time.settle();
    healed = true;
    q.registry.pause(q.name);
    expect(await q.registry.redrive(q.name)).toBe(1);
    expect((await q.registry.deadLetters<number>(q.name)).items.map((letter) => letter.data)).toEqual([2]);
    q.registry.resume(q.name);
    await q.time.settle();
    expect(await q.registry.redrive(q.name)).toBe(1);
    await q.time.settle();
    expect(q.items()).toEqual([1, 2, 1, 2]);
    await q.app.close();
  });

  it('discard(id) deletes one and frees its id; an unknown id counts 0', async () => {
    const q = await memoryQueue<number>(failing);
    await q.queue.enqueue(1, { id: 'a' });
    await q.queue.enqueue(2, { id: 'b' });
    await q.time.settle();
    expect(await q.registry.discard(q.name, 'zzz')).toBe(0);
    expect(await q.registry.discard(q.name, 'a')).toBe(1);
    expect((await q.registry.deadLetters<number>(q.name)).items.map((letter) => letter.id)).toEqual(['b']);
    expect(await q.queue.enqueue(1, { id: 'b' })).toBe('b'); // still held by its dead letter
    await q.queue.enqueue(1, { id: 'a' });
    await q.time.settle();
    expect(q.items()).toEqual([1, 2, 1]);
    await q.app.close();
  });

  it('the memory default keeps 1000 letters', async () => {
    const q = await memoryQueue<number>(failing);
    await q.queue.enqueueMany(Array.from({ length: 1_005 }, (_, i) => i));
    await waitFor(() => q.failed.length === 1_005);
    const page = await q.registry.deadLetters<number>(q.name, { limit: 2 });
    expect(page.total).toBe(1_000);
    expect(page.items.map((letter) => letter.data)).toEqual([1_004, 1_003]);
    expect((await q.registry.deadLetters<number>(q.name, { offset: 999, limit: 5 })).items.map((letter) => letter.data)).toEqual([5]);
    await q.app.close();
  });
});

describe('memory backend: enqueueMany', () => {
  it("wakes the worker once for the batch, and in fullMode 'wait' the items that find no room wait, in order", async () => {
    const q = await memoryQueue<number>({ queue: { capacity: 2 } });
    q.registry.pause(q.name);
    let ids: string[] | undefined;
    const many = q.queue.enqueueMany([1, 2, 3, 4]).then((result) => (ids = result));
    await q.time.settle();
    expect(ids).toBeUndefined();
    expect(q.queue.depth).toBe(2);
    q.registry.resume(q.name);
    await many;
    await q.time.settle();
    expect(ids).toEqual(['1', '2', '3', '4']);
    expect(q.items()).toEqual([1, 2, 3, 4]);
    await q.app.close();
  });

  it("follows fullMode item by item: 'dropOldest' evicts, 'reject' rejects at the first that does not fit", async () => {
    const q = await memoryQueue<number>({ queue: { capacity: 2, fullMode: 'dropOldest' } });
    q.registry.pause(q.name);
    expect(await q.queue.enqueueMany([1, 2, 3])).toEqual(['1', '2', '3']);
    expect(q.dropped).toEqual([{ item: 1, reason: 'dropOldest' }]);
    await q.app.close();

    const strict = await memoryQueue<number>({ queue: { capacity: 2, fullMode: 'reject' } });
    strict.registry.pause(strict.name);
    await expect(strict.queue.enqueueMany([1, 2, 3])).rejects.toBeInstanceOf(QueueFullError);
    expect(strict.queue.depth).toBe(2);
    strict.registry.resume(strict.name);
    await strict.time.settle();
    expect(strict.items()).toEqual([1, 2]);
    await strict.app.close();
  });
});
