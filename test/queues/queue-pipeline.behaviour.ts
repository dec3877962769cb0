/**
 * The queue pipeline of issue 14, the same on every backend, written once against the public API
 * and run by queue-pipeline.spec.ts (memory) and queue-pipeline.bullmq.spec.ts: queue events
 * (`@OnQueueEvent`, `HostingRegistry.onQueueEvent`), the status fields (cancelled, deadLetters,
 * progress, rateLimitedUntil) and the registry's dead letters (list, page, redrive, discard) and
 * cancel; on durable backends (BullMQ), events are the whole cluster's. Real time with generous
 * margins (BullMQ has no virtual clock).
 */
import { Injectable, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  OnQueueEvent,
  QueueWorker,
  RateLimitedError,
  type JobContext,
  type QueueEvent,
  type QueueOptions,
  type WorkQueue,
} from '../../src/index.js';
import { QUEUE_LISTENER_FAILED } from '../../src/hosting.messages.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';
import type { BackendUnderTest } from './work-queue.behaviour.js';

/** An event without its instant, to compare sequences (the instant is checked on its own). */
const withoutAt = ({ at, ...rest }: QueueEvent): Omit<QueueEvent, 'at'> => {
  expect(at).toBeInstanceOf(Date);
  return rest;
};

/**
 * Resolves once the queue's event reader is open: at once in memory; on BullMQ once its QueueEvents
 * reader was opened (listed in the queue's connections), after which no event of an item enqueued
 * from here on can be missed. Opening it takes a round trip after the first subscription (its
 * starting point in the stream), so a test that enqueues at once could beat it.
 */
export async function eventsOpen(app: INestApplicationContext, queue: string): Promise<void> {
  const registry = app.get(HostingRegistry);
  await waitFor(() => registry.get(queue)?.backend !== 'bullmq' || registry.get(queue)?.connections?.some((c) => c.name === 'events') === true, 15_000, `the event reader of queue "${queue}"`);
}

export function describeQueuePipeline(label: string, backend: () => BackendUnderTest): void {
  describe(`queue pipeline (${label} backend)`, () => {
    const queue = (name: string, extra: Partial<QueueOptions> = {}): DynamicModule =>
      HostingModule.registerQueue({ name, ...backend().queueOptions(), ...extra });
    const hosting = () => backend().hostingOptions();

    it('@OnQueueEvent methods and registry listeners get completed, failed (willRetry) and deadLettered, in order, with their fields, and drained', async () => {
      const name = backend().uniqueName('events');
      const decorated: QueueEvent[] = [];
      const everything: QueueEvent[] = [];
      @Injectable()
      class Listener {
        readonly self = this;
        @OnQueueEvent(name, ['completed', 'failed', 'deadLettered'])
        onEvent(event: QueueEvent) {
          expect(this.self).toBe(this); // called on the provider itself
          decorated.push(event);
        }
      }
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } })
        handle(item: string) {
          if (item === 'bad') throw new Error('bad item');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Listener, Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      registry.onQueueEvent(name, '*', (event) => everything.push(event));
      await eventsOpen(app, name);
      const before = Date.now();
      const good = await app.get(Producer).queue.enqueue('good');
      const bad = await app.get(Producer).queue.enqueue('bad');
      const items = () => everything.filter((e) => e.name !== 'drained');
      await waitFor(() => items().length === 4, 15_000, 'four item events').catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(everything)}`);
      });
      // Drained comes when nothing waits any more: on memory after the last item settled, on BullMQ as
      // its worker finds the wait list empty (its own rule; the memory spec pins the instants).
      await waitFor(() => everything.some((e) => e.name === 'drained'), 15_000, 'a drained event');
      // BullMQ's `completed` event does not say which try it was (QueueEvent.attempt is "when known").
      const completed = backend().durable ? { queue: name, name: 'completed', id: good } : { queue: name, name: 'completed', id: good, attempt: 1 };
      const expected = [
        completed,
        { queue: name, name: 'failed', id: bad, attempt: 1, error: 'bad item', willRetry: true },
        { queue: name, name: 'failed', id: bad, attempt: 2, error: 'bad item', willRetry: false },
        { queue: name, name: 'deadLettered', id: bad, attempt: 2, error: 'bad item' },
      ];
      expect(items().map(withoutAt)).toEqual(expected);
      expect(decorated.map(withoutAt)).toEqual(expected);
      for (const event of everything) {
        expect(event.at.getTime()).toBeGreaterThanOrEqual(before - 1_000);
        expect(event.at.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
      }
      expect(withoutAt(everything.find((e) => e.name === 'drained')!)).toEqual({ queue: name, name: 'drained' });
      await app.close();
    });

    it('a listener that throws or rejects is logged naming it; the items and the other listeners go on', async () => {
      const name = backend().uniqueName('throwing-listener');
      const counted: string[] = [];
      @Injectable()
      class Listener {
        @OnQueueEvent(name, 'completed')
        boom(): void {
          throw new Error('listener threw');
        }
      }
      @Injectable()
      class Worker {
        @QueueWorker(name)
        handle() {}
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      const { app, logger } = await startHostingApp({ imports: [queue(name)], providers: [Listener, Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      const rejecting = (): Promise<void> => Promise.reject(new Error('listener rejected'));
      registry.onQueueEvent(name, ['completed'], rejecting);
      registry.onQueueEvent(name, 'completed', (event) => counted.push(event.id!));
      await eventsOpen(app, name);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await app.get(Producer).queue.enqueue(i));
      await waitFor(() => counted.length === 3, 15_000, 'three completed events');
      expect(counted).toEqual(ids);
      expect(registry.get(name)).toMatchObject({ processed: 3, failed: 0 });
      await waitFor(() => logger.find('error', 'a listener of its "completed" events').length === 6, 15_000, 'six listener failures logged');
      const thrown = logger.find('error', QUEUE_LISTENER_FAILED(name, 'completed', 'Listener.boom'));
      expect(thrown).toHaveLength(3);
      expect(thrown[0].details).toContain('listener threw');
      const rejected = logger.find('error', "'s listener rejecting, a listener of its");
      expect(rejected).toHaveLength(3);
      expect(rejected[0].message).toContain(`HostingRegistry.onQueueEvent("${name}")`);
      expect(rejected[0].details).toContain('listener rejected');
      await app.close();
    });

    it("a registry listener hears nothing once unsubscribed; only its events reach it", async () => {
      const name = backend().uniqueName('unsubscribe');
      @Injectable()
      class Worker {
        @QueueWorker(name)
        handle(item: string) {
          if (item === 'bad') throw new Error('no');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      const first: string[] = [];
      const failures: string[] = [];
      const kept: string[] = [];
      const unsubscribe = registry.onQueueEvent(name, 'completed', (event) => first.push(event.id!));
      registry.onQueueEvent(name, 'deadLettered', (event) => failures.push(event.name));
      registry.onQueueEvent(name, 'completed', (event) => kept.push(event.id!));
      await eventsOpen(app, name);
      const one = await app.get(Producer).queue.enqueue('one');
      await waitFor(() => kept.length === 1, 15_000, 'the first completed event');
      unsubscribe();
      unsubscribe(); // twice is harmless
      await app.get(Producer).queue.enqueue('bad');
      const two = await app.get(Producer).queue.enqueue('two');
      await waitFor(() => kept.length === 2, 15_000, 'the second completed event');
      expect(first).toEqual([one]);
      expect(kept).toEqual([one, two]);
      expect(failures).toEqual(['deadLettered']);
      await app.close();
    });

    it('status shows the latest progress of each running item, and drops it when the item ends', async () => {
      const name = backend().uniqueName('progress');
      const gates = new Map<string, () => void>();
      const contexts: JobContext[] = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { concurrency: 2 })
        async handle(item: string, ctx: JobContext) {
          contexts.push(ctx);
          ctx.progress(10);
          if (item === 'b') ctx.progress({ step: 'upload', done: 3 });
          await new Promise<void>((resolve) => gates.set(item, resolve));
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      const a = await app.get(Producer).queue.enqueue('a');
      const b = await app.get(Producer).queue.enqueue('b');
      await waitFor(() => gates.size === 2, 15_000, 'both items to run');
      const byId = (status = registry.get(name)!) => Object.fromEntries((status.progress ?? []).map((p) => [p.id, p]));
      expect(byId()).toEqual({ [a]: { id: a, attempt: 1, value: 10 }, [b]: { id: b, attempt: 1, value: { step: 'upload', done: 3 } } });
      gates.get('a')!();
      await waitFor(() => registry.get(name)?.processed === 1, 15_000, "'a' to finish");
      expect(byId()).toEqual({ [b]: { id: b, attempt: 1, value: { step: 'upload', done: 3 } } });
      gates.get('b')!();
      await waitFor(() => registry.get(name)?.processed === 2, 15_000, "'b' to finish");
      expect(registry.get(name)!.progress).toBeUndefined();
      // A report after the item ended goes nowhere.
      contexts[0].progress(99);
      expect(registry.get(name)!.progress).toBeUndefined();
      await app.close();
    });

    it('HostingRegistry.cancel removes a waiting item and aborts a running one; status counts both, and neither is an event, a failure or a dead letter', async () => {
      const name = backend().uniqueName('cancel');
      const ran: string[] = [];
      const events: QueueEvent[] = [];
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 3 })
        async handle(item: string, ctx: JobContext) {
          ran.push(item);
          if (item !== 'long') return;
          started();
          await new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      registry.onQueueEvent(name, '*', (event) => events.push(event));
      const long = await app.get(Producer).queue.enqueue('long');
      await running;
      const waiting = await app.get(Producer).queue.enqueue('waiting');
      await expect(registry.cancel(name, waiting)).resolves.toBe('removed');
      await waitFor(() => registry.get(name)?.cancelled === 1, 15_000, 'the removed item to be counted');
      await expect(registry.cancel(name, long)).resolves.toBe('aborted');
      await waitFor(() => registry.get(name)?.cancelled === 2, 15_000, 'the aborted item to be counted');
      await expect(registry.cancel(name, 'no-such-item')).resolves.toBe('not-found');
      const after = await app.get(Producer).queue.enqueue('after');
      await waitFor(() => events.some((e) => e.name === 'completed' && e.id === after), 15_000, "'after' to complete");
      expect(ran).toEqual(['long', 'after']);
      expect(registry.get(name)).toMatchObject({ cancelled: 2, failed: 0, retried: 0, processed: 1, deadLetters: 0 });
      expect(events.filter((e) => e.name !== 'drained').map((e) => [e.name, e.id])).toEqual([['completed', after]]);
      await app.close();
    });

    it('dead letters: listed newest first with their total, paged; redrive one or all runs them again under their id; discard one or all deletes them', async () => {
      const name = backend().uniqueName('dead-letters');
      const failing = new Set(['x', 'y', 'z', 'p', 'q', 'r']);
      const ran: Array<{ item: string; id: string; attempt: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 1 })
        handle(item: string, ctx: JobContext) {
          ran.push({ item, id: ctx.id, attempt: ctx.attempt });
          if (failing.has(item)) throw new TypeError(`no ${item}`);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      const producer = app.get(Producer).queue;
      const total = async () => (await registry.deadLetters(name)).total;
      const ids: Record<string, string> = {};
      // One at a time, so that each fails after the one before (newest first is then z, y, x).
      for (const item of ['x', 'y', 'z']) {
        ids[item] = await producer.enqueue(item);
        const expected = Object.keys(ids).length;
        await waitFor(() => registry.get(name)?.failed === expected, 15_000, `${item} to fail`);
      }
      const page = await registry.deadLetters<string>(name);
      expect(page.total).toBe(3);
      expect(page.items.map((d) => d.id)).toEqual([ids.z, ids.y, ids.x]);
      expect(page.items[0]).toEqual({ id: ids.z, data: 'z', error: expect.objectContaining({ name: 'TypeError', message: 'no z' }), attempts: 1, failedAt: expect.any(Date) });
      expect(page.items[0].failedAt.getTime()).toBeGreaterThanOrEqual(page.items[2].failedAt.getTime());
      await waitFor(() => registry.get(name)?.deadLetters === 3, 15_000, 'status.deadLetters to show 3');
      // Paging.
      expect((await registry.deadLetters(name, { offset: 1, limit: 1 })).items.map((d) => d.id)).toEqual([ids.y]);
      expect(await registry.deadLetters(name, { offset: 2 })).toMatchObject({ total: 3, items: [expect.objectContaining({ id: ids.x })] });
      expect(await registry.deadLetters(name, { offset: 3, limit: 10 })).toEqual({ total: 3, items: [] });
      // Redrive one: it runs again, first try, same id.
      failing.delete('y');
      await expect(registry.redrive(name, ids.y)).resolves.toBe(1);
      await waitFor(() => registry.get(name)?.processed === 1, 15_000, 'the redriven item to run');
      expect(ran.at(-1)).toEqual({ item: 'y', id: ids.y, attempt: 1 });
      expect((await registry.deadLetters(name)).items.map((d) => d.id)).toEqual([ids.z, ids.x]);
      await expect(registry.redrive(name, 'no-such-item')).resolves.toBe(0);
      // Redrive all.
      failing.delete('x');
      failing.delete('z');
      await expect(registry.redrive(name)).resolves.toBe(2);
      await waitFor(() => registry.get(name)?.processed === 3, 15_000, 'every redriven item to run');
      expect(ran.slice(-2).map((r) => r.id).sort()).toEqual([ids.x, ids.z].sort());
      expect(await total()).toBe(0);
      await waitFor(() => registry.get(name)?.deadLetters === 0, 15_000, 'status.deadLetters to show 0');
      // Discard one, then all: nothing runs again.
      for (const item of ['p', 'q', 'r']) {
        ids[item] = await producer.enqueue(item);
        const expected = 3 + ['p', 'q', 'r'].indexOf(item) + 1;
        await waitFor(() => registry.get(name)?.failed === expected, 15_000, `${item} to fail`);
      }
      const runsBefore = ran.length;
      await expect(registry.discard(name, ids.q)).resolves.toBe(1);
      expect((await registry.deadLetters(name)).items.map((d) => d.id)).toEqual([ids.r, ids.p]);
      await expect(registry.discard(name, ids.q)).resolves.toBe(0);
      await expect(registry.discard(name)).resolves.toBe(2);
      expect(await registry.deadLetters(name)).toEqual({ total: 0, items: [] });
      await waitFor(() => registry.get(name)?.deadLetters === 0, 15_000, 'status.deadLetters to show 0');
      expect(ran.length).toBe(runsBefore);
      expect(registry.get(name)).toMatchObject({ processed: 3, failed: 6 });
      await app.close();
    });

    it('status.rateLimitedUntil shows while a RateLimitedError holds deliveries back, and goes once it passed; not a failure', async () => {
      const name = backend().uniqueName('rate-limited');
      const tries: Array<{ attempt: number; at: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 1 })
        handle(_item: string, ctx: JobContext) {
          tries.push({ attempt: ctx.attempt, at: Date.now() });
          if (tries.length === 1) throw new RateLimitedError(1_500);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      await app.get(Producer).queue.enqueue('one');
      await waitFor(() => tries.length === 1, 15_000, 'the first try');
      await waitFor(() => registry.get(name)?.rateLimitedUntil !== undefined, 15_000, 'rateLimitedUntil');
      const until = registry.get(name)!.rateLimitedUntil!;
      expect(until).toBeInstanceOf(Date);
      expect(until.getTime()).toBeGreaterThanOrEqual(tries[0].at + 1_500 - 50);
      expect(until.getTime()).toBeLessThanOrEqual(tries[0].at + 1_500 + 5_000);
      await waitFor(() => registry.get(name)?.processed === 1, 20_000, 'the item to run after the pause');
      expect(tries.map((t) => t.attempt)).toEqual([1, 1]);
      await waitFor(() => registry.get(name)?.rateLimitedUntil === undefined, 15_000, 'rateLimitedUntil to go');
      expect(registry.get(name)).toMatchObject({ failed: 0, retried: 0, processed: 1 });
      await app.close();
    });

    if (backend().durable) {
      it("events are the cluster's: a process whose worker is disabled hears the worker process's events through @OnQueueEvent; the worker's process hears each once", async () => {
        const name = backend().uniqueName('cluster-events');
        const heard: Record<'worker' | 'listener', QueueEvent[]> = { worker: [], listener: [] };
        const appOf = (role: 'worker' | 'listener') => {
          @Injectable()
          class Listener {
            @OnQueueEvent(name, ['completed', 'failed', 'deadLettered'])
            on(event: QueueEvent) {
              heard[role].push(event);
            }
          }
          @Injectable()
          class Worker {
            @QueueWorker(name, { enabled: role === 'worker' })
            handle(item: string) {
              if (item === 'bad') throw new Error('bad item');
            }
          }
          @Injectable()
          class Producer {
            constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
          }
          return startHostingApp({ imports: [queue(name)], providers: [Listener, Worker, Producer], hosting: hosting() }).then(({ app }) => ({
            app,
            producer: app.get(Producer).queue,
          }));
        };
        const worker = await appOf('worker');
        const listener = await appOf('listener');
        try {
          await eventsOpen(worker.app, name);
          await eventsOpen(listener.app, name);
          // Enqueued on the process without the worker, handled on the other.
          const good = await listener.producer.enqueue('good');
          const bad = await listener.producer.enqueue('bad');
          const expected = [
            ['completed', good],
            ['failed', bad],
            ['deadLettered', bad],
          ];
          for (const role of ['listener', 'worker'] as const)
            await waitFor(() => heard[role].length >= 3, 20_000, `three events on the ${role} process`);
          // The cluster's events can come before the worker's own count of the failure (BullMQ's 'failed' after its write).
          await waitFor(() => worker.app.get(HostingRegistry).get(name)?.failed === 1, 10_000, "the worker's count");
          expect(worker.app.get(HostingRegistry).get(name)).toMatchObject({ processed: 1, failed: 1 });
          expect(listener.app.get(HostingRegistry).get(name)).toMatchObject({ processed: 0, failed: 0, state: 'disabled' });
          // Another item, to give a duplicate time to show before counting.
          const last = await listener.producer.enqueue('last');
          for (const role of ['listener', 'worker'] as const)
            await waitFor(() => heard[role].some((e) => e.id === last), 20_000, `the last item's event on the ${role} process`);
          for (const role of ['listener', 'worker'] as const)
            expect(heard[role].map((e) => [e.name, e.id])).toEqual([...expected, ['completed', last]]);
          expect(heard.listener.find((e) => e.name === 'deadLettered')).toMatchObject({ queue: name, id: bad, error: 'bad item' });
        } finally {
          await listener.app.close();
          await worker.app.close();
        }
      });
    }
  });
}
