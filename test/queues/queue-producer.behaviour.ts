/**
 * The producer side of issue 14 (delay, runAt, priority, id dedup, enqueueMany, per-item attempts,
 * cancel, dead letters), written once against the public API and run on every backend: by
 * memory-queue-features.spec.ts on memory and by test/bullmq/queue-producer.bullmq.spec.ts on BullMQ.
 * Timing runs on real time with generous margins (BullMQ cannot use virtual time).
 */
import { Injectable, type DynamicModule } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueItemCancelledError,
  QueueWorker,
  type JobContext,
  type QueueEvent,
  type QueueOptions,
  type QueueWorkerOptions,
  type WorkQueue,
} from '../../src/index.js';
import { closeLeftOpenApps, sleep, startHostingApp, waitFor } from '../support/hosting-app.js';
import type { BackendUnderTest } from './work-queue.behaviour.js';
import { eventsOpen } from './queue-pipeline.behaviour.js';

/** One delivery as the worker saw it. */
interface Delivery<T> {
  item: T;
  id: string;
  attempt: number;
  at: number;
}

export function describeQueueProducerBehaviour(label: string, backend: () => BackendUnderTest): void {
  describe(`WorkQueue producer behaviour (${label} backend)`, () => {
    const tracked = closeLeftOpenApps();

    /**
     * A real app with one queue and a worker that records each delivery and then runs `handle`
     * (which may throw, or wait on the item's signal).
     */
    async function startQueue<T>(
      base: string,
      options: { worker?: QueueWorkerOptions; queue?: Partial<QueueOptions>; handle?: (item: T, ctx: JobContext) => unknown } = {},
    ) {
      const name = backend().uniqueName(base);
      const seen: Array<Delivery<T>> = [];
      /** The item `hold` made the worker wait on (concurrency 1: nothing else starts meanwhile). */
      let held: { item: T; gate: Promise<void>; open: () => void } | undefined;
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<T>) {}
      }
      @Injectable()
      class Worker {
        @QueueWorker(name, options.worker ?? {})
        handle(item: T, ctx: JobContext) {
          seen.push({ item, id: ctx.id, attempt: ctx.attempt, at: Date.now() });
          if (held !== undefined && item === held.item) return held.gate;
          return options.handle?.(item, ctx);
        }
      }
      const module: DynamicModule = HostingModule.registerQueue({ name, ...backend().queueOptions(), ...options.queue });
      const app = tracked((await startHostingApp({ imports: [module], providers: [Producer, Worker], hosting: backend().hostingOptions() })).app);
      const registry = app.get(HostingRegistry);
      const events: QueueEvent[] = [];
      registry.onQueueEvent(name, '*', (event) => events.push(event));
      await eventsOpen(app, name); // on BullMQ: an item that ran before the event reader opened would go unheard
      const items = () => seen.map((delivery) => delivery.item);
      /** Enqueues a marker and waits until it ran: every item enqueued before it and deliverable has run by then (FIFO). */
      const settleWith = async (marker: T) => {
        const count = seen.length;
        await app.get(Producer).queue.enqueue(marker);
        await waitFor(() => seen.slice(count).some((delivery) => delivery.item === marker), 10_000, `marker ${String(marker)}`);
      };
      /**
       * Keeps the worker busy with `blocker` until `release()`: items enqueued meanwhile wait in the
       * queue (on every backend alike; a pause of a BullMQ worker may let a fetch already under way through).
       */
      const hold = async (blocker: T) => {
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        held = { item: blocker, gate, open };
        await app.get(Producer).queue.enqueue(blocker);
        await waitFor(() => seen.some((delivery) => delivery.item === blocker), 10_000, 'the blocker to start');
      };
      const release = () => held?.open();
      return { app, name, queue: app.get(Producer).queue, registry, seen, items, events, settleWith, hold, release };
    }

    it('delayMs: the item does not run before its delay, and runs after it', async () => {
      const { app, queue, seen } = await startQueue<string>('delayed');
      const start = Date.now();
      await queue.enqueue('later', { delayMs: 300 });
      await queue.enqueue('now');
      // Event-driven, no timed window: on a busy machine 'now' may be slow to be fetched too.
      await waitFor(() => seen.length === 2, 10_000, 'both items');
      const later = seen.find((s) => s.item === 'later')!;
      expect(seen.map((s) => s.item).sort()).toEqual(['later', 'now']);
      expect(later.at - start).toBeGreaterThanOrEqual(290);
      await app.close();
    });

    it('runAt: the item runs no sooner than that instant; one in the past runs now', async () => {
      const { app, queue, seen } = await startQueue<string>('run-at');
      // One a minute in the past runs at all within the wait (were it held for its distance from now, or
      // refused, it would not): no timed window that a busy machine's slow fetch could miss.
      await queue.enqueue('past', { runAt: new Date(Date.now() - 60_000) });
      await waitFor(() => seen.length === 1, 10_000, 'the item whose instant has passed');
      const runAt = new Date(Date.now() + 300);
      await queue.enqueue('at', { runAt });
      await waitFor(() => seen.length === 2, 10_000, 'the item at its instant');
      expect(seen.map((s) => s.item)).toEqual(['past', 'at']);
      expect(seen[1].at).toBeGreaterThanOrEqual(runAt.getTime() - 10);
      await app.close();
    });

    it('priority: items without one first, then lower numbers first, in order of enqueue within one', async () => {
      const { app, queue, items, hold, release } = await startQueue<string>('priority');
      await hold('blocker');
      await queue.enqueue('none-a');
      await queue.enqueue('p5', { priority: 5 });
      await queue.enqueue('p1-a', { priority: 1 });
      await queue.enqueue('none-b');
      await queue.enqueue('p1-b', { priority: 1 });
      await queue.enqueue('p3', { priority: 3 });
      await queue.enqueue('none-c', { priority: 0 });
      release();
      await waitFor(() => items().length === 8, 10_000, 'every item');
      expect(items()).toEqual(['blocker', 'none-a', 'none-b', 'none-c', 'p1-a', 'p1-b', 'p3', 'p5']);
      await app.close();
    });

    it('id: the item gets that id; enqueueing it again while it waits adds nothing and resolves with the id; once it completed the id is free', async () => {
      const { app, queue, seen, settleWith, events, hold, release } = await startQueue<string>('dedup');
      await hold('blocker');
      expect(await queue.enqueue('first', { id: 'order-1' })).toBe('order-1');
      expect(await queue.enqueue('second', { id: 'order-1' })).toBe('order-1');
      release();
      await settleWith('marker-1');
      expect(seen.filter((s) => s.id === 'order-1').map((s) => s.item)).toEqual(['first']);
      await waitFor(() => events.some((e) => e.name === 'completed' && e.id === 'order-1'), 10_000, 'order-1 completed');
      expect(await queue.enqueue('third', { id: 'order-1' })).toBe('order-1');
      await settleWith('marker-2');
      expect(seen.filter((s) => s.id === 'order-1').map((s) => s.item)).toEqual(['first', 'third']);
      await app.close();
    });

    it('idTtlMs: the id stays taken after the item completed, until the time to live from its enqueue', async () => {
      const { app, queue, seen, settleWith, events } = await startQueue<string>('dedup-ttl');
      expect(await queue.enqueue('first', { id: 'mail-1', idTtlMs: 60_000 })).toBe('mail-1');
      await waitFor(() => events.some((e) => e.name === 'completed' && e.id === 'mail-1'), 10_000, 'mail-1 completed');
      expect(await queue.enqueue('again', { id: 'mail-1', idTtlMs: 60_000 })).toBe('mail-1');
      await settleWith('marker');
      expect(seen.filter((s) => s.id === 'mail-1').map((s) => s.item)).toEqual(['first']);
      await app.close();
    });

    it('enqueueMany: resolves with the ids in order, runs the items in order; ids from `id` deduplicate, within the batch too', async () => {
      const { app, queue, seen, settleWith } = await startQueue<string>('many');
      const ids = await queue.enqueueMany(['a', 'b', 'c']);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
      await waitFor(() => seen.length === 3, 10_000, 'the batch');
      expect(seen.map((s) => [s.item, s.id])).toEqual([
        ['a', ids[0]],
        ['b', ids[1]],
        ['c', ids[2]],
      ]);
      const keyed = await queue.enqueueMany(['x', 'y', 'x'], { id: (item) => `key-${item}` });
      expect(keyed).toEqual(['key-x', 'key-y', 'key-x']);
      await settleWith('marker');
      expect(seen.slice(3).map((s) => [s.item, s.id])).toEqual([
        ['x', 'key-x'],
        ['y', 'key-y'],
        ['marker', expect.any(String)],
      ]);
      await app.close();
    });

    it("enqueueMany with options: a priority and a delay apply to every item", async () => {
      const { app, queue, items, hold, release } = await startQueue<string>('many-options');
      await hold('blocker');
      await queue.enqueueMany(['p2-a', 'p2-b'], { priority: 2 });
      await queue.enqueueMany(['p1-a', 'p1-b'], { priority: 1 });
      await queue.enqueueMany(['later'], { delayMs: 300 });
      release();
      await waitFor(() => items().length === 5, 10_000, 'the prioritized items');
      expect(items()).toEqual(['blocker', 'p1-a', 'p1-b', 'p2-a', 'p2-b']);
      await waitFor(() => items().length === 6, 10_000, 'the delayed item');
      await app.close();
    });

    it("an item's attempts and backoff win over the worker's, both ways", async () => {
      const { app, queue, seen, registry, name } = await startQueue<string>('item-attempts', {
        worker: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } },
        handle: (item, ctx) => {
          if (item === 'stubborn' && ctx.attempt < 4) throw new Error(`try ${ctx.attempt} failed`);
          if (item === 'fragile') throw new Error('fragile failed');
        },
      });
      await queue.enqueue('stubborn', { attempts: 4, backoff: { type: 'fixed', delayMs: 20 } });
      await queue.enqueue('fragile', { attempts: 1 });
      await waitFor(() => registry.get(name)?.processed === 1 && registry.get(name)?.failed === 1, 10_000, 'both items settled');
      expect(seen.filter((s) => s.item === 'stubborn').map((s) => s.attempt)).toEqual([1, 2, 3, 4]);
      expect(seen.filter((s) => s.item === 'fragile').map((s) => s.attempt)).toEqual([1]);
      await app.close();
    });

    it("cancel: a waiting and a delayed item are removed ('removed') and never run; an unknown id is 'not-found'", async () => {
      const { app, name, queue, registry, seen, settleWith, hold, release } = await startQueue<string>('cancel-waiting');
      await hold('blocker');
      const generated = await queue.enqueue('waiting');
      await queue.enqueue('keyed', { id: 'job-keyed' });
      await queue.enqueue('delayed', { id: 'job-delayed', delayMs: 60_000 });
      await queue.enqueue('kept');
      expect(await queue.cancel(generated)).toBe('removed');
      expect(await queue.cancel('job-keyed')).toBe('removed');
      expect(await queue.cancel('job-delayed')).toBe('removed');
      expect(await queue.cancel('job-unknown')).toBe('not-found');
      expect(await queue.cancel('job-keyed')).toBe('not-found');
      release();
      await settleWith('marker');
      expect(seen.map((s) => s.item)).toEqual(['blocker', 'kept', 'marker']);
      expect(registry.get(name)).toMatchObject({ cancelled: 3 });
      // The id of a cancelled item is free again.
      expect(await queue.enqueue('keyed again', { id: 'job-keyed' })).toBe('job-keyed');
      await waitFor(() => seen.some((s) => s.item === 'keyed again'), 10_000, 'the id enqueued again');
      await app.close();
    });

    it("cancel: a running item's signal aborts with QueueItemCancelledError ('aborted'); its throw ends it as cancelled, not retried", async () => {
      const reasons: unknown[] = [];
      const { app, name, queue, registry, seen } = await startQueue<string>('cancel-running', {
        worker: { attempts: 3 },
        handle: (_item, ctx) =>
          new Promise<void>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              reasons.push(ctx.signal.reason);
              reject(ctx.signal.reason as Error);
            });
          }),
      });
      const id = await queue.enqueue('long', { id: 'job-long' });
      await waitFor(() => seen.length === 1, 10_000, 'the item to start');
      expect(await queue.cancel(id)).toBe('aborted');
      await waitFor(() => registry.get(name)?.cancelled === 1, 10_000, 'the cancelled count');
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toBeInstanceOf(QueueItemCancelledError);
      expect(reasons[0]).toMatchObject({ queueName: name, itemId: 'job-long' });
      await sleep(100);
      expect(seen).toHaveLength(1);
      expect((await registry.deadLetters(name)).total).toBe(0);
      await app.close();
    });

    it('dead letters: listed newest first after the last try; redrive runs one again from try 1 with its id; discard deletes', async () => {
      let healed = false;
      const { app, name, queue, registry, seen } = await startQueue<{ n: number }>('dead', {
        worker: { attempts: 2 },
        handle: (item) => {
          if (!healed) throw new Error(`item ${item.n} failed`);
        },
      });
      const first = await queue.enqueue({ n: 1 });
      const second = await queue.enqueue({ n: 2 }, { id: 'dead-2' });
      await waitFor(() => registry.get(name)?.failed === 2, 10_000, 'both items failed');
      await waitFor(() => registry.get(name)?.deadLetters === 2, 10_000, 'the dead-letter count in status');
      const page = await registry.deadLetters<{ n: number }>(name);
      expect(page.total).toBe(2);
      expect(page.items.map((letter) => letter.id)).toEqual([second, first]);
      expect(page.items[1]).toMatchObject({ id: first, data: { n: 1 }, attempts: 2, error: { name: 'Error', message: 'item 1 failed' } });
      expect(page.items[1].failedAt).toBeInstanceOf(Date);
      expect((await registry.deadLetters(name, { offset: 1, limit: 1 })).items.map((letter) => letter.id)).toEqual([first]);
      // A dead letter holds its id: enqueueing it again adds nothing.
      expect(await queue.enqueue({ n: 20 }, { id: 'dead-2' })).toBe('dead-2');

      healed = true;
      expect(await registry.redrive(name, 'dead-2')).toBe(1);
      await waitFor(() => registry.get(name)?.processed === 1, 10_000, 'the redriven item');
      expect(seen.filter((s) => s.id === 'dead-2').map((s) => [s.item.n, s.attempt])).toEqual([
        [2, 1],
        [2, 2],
        [2, 1],
      ]);
      expect(await registry.redrive(name, 'dead-unknown')).toBe(0);
      expect(await registry.discard(name)).toBe(1);
      expect((await registry.deadLetters(name)).total).toBe(0);
      expect(seen.filter((s) => s.id === first)).toHaveLength(2);
      await app.close();
    });
  });
}
