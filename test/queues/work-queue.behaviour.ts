/**
 * Behaviour every queue backend must show, written once against the public API and run by
 * memory-queue.spec.ts and the BullMQ spec: application code does not change between backends.
 */
import { Inject, Injectable, Module, Scope, type DynamicModule } from '@nestjs/common';
import { ContextIdFactory, REQUEST, type ContextId, type ContextIdStrategy } from '@nestjs/core';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  JobContext,
  QueueClosedError,
  QueueWorker,
  type HostingOptions,
  type OnScopeEnd,
  type QueueOptions,
  type WorkQueue,
  WorkInterceptor,
  type EnqueueContext,
  type WorkContext,
  type WorkNext,
} from '../../src/index.js';
import { DUPLICATE_WORKER, QUEUE_ITEM_FAILED, UNKNOWN_QUEUE } from '../../src/hosting.messages.js';
import { compileHostingApp, sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

export interface BackendUnderTest {
  /** Extra registerQueue options that select the backend (e.g. { backend: 'bullmq' }). */
  queueOptions(): Partial<QueueOptions>;
  /** Extra forRoot options (e.g. { redis }). */
  hostingOptions(): HostingOptions;
  /** A queue name not used before in this run (durable backends keep state between tests). */
  uniqueName(base: string): string;
  /**
   * Items still queued at shutdown stay in the store for the next process (BullMQ) instead of
   * draining before the host stops (memory). @default false
   */
  durable?: boolean;
}

export function describeWorkQueueBehaviour(label: string, backend: () => BackendUnderTest): void {
  describe(`WorkQueue behaviour (${label} backend)`, () => {
    const queue = (name: string, extra: Partial<QueueOptions> = {}): DynamicModule =>
      HostingModule.registerQueue({ name, ...backend().queueOptions(), ...extra });
    const hosting = () => backend().hostingOptions();

    it('hands items to the worker in order, each with its JobContext', async () => {
      const name = backend().uniqueName('ordered');
      const seen: Array<{ item: number; ctx: JobContext }> = [];
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      @Injectable()
      class Worker {
        @QueueWorker(name)
        handle(item: number, ctx: JobContext) {
          seen.push({ item, ctx });
        }
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Producer, Worker], hosting: hosting() });
      const ids: string[] = [];
      for (let i = 1; i <= 20; i++) ids.push(await app.get(Producer).queue.enqueue(i));
      await waitFor(() => seen.length === 20);
      expect(seen.map((s) => s.item)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(seen.map((s) => s.ctx.id)).toEqual(ids);
      expect(seen[0].ctx).toBeInstanceOf(JobContext);
      expect(seen[0].ctx).toMatchObject({ queue: name, attempt: 1 });
      expect(typeof seen[0].ctx.id).toBe('string');
      expect(JSON.parse(JSON.stringify(seen[0].ctx))).toEqual({ queue: name, id: ids[0], attempt: 1 });
      await app.close();
    });

    it('runs at most `concurrency` handlers at once, and reaches it', async () => {
      const name = backend().uniqueName('concurrent');
      let running = 0;
      let max = 0;
      let done = 0;
      @Injectable()
      class Worker {
        @QueueWorker(name, { concurrency: 3 })
        async handle() {
          running++;
          max = Math.max(max, running);
          await sleep(30);
          running--;
          done++;
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Producer, Worker], hosting: hosting() });
      for (let i = 0; i < 15; i++) await app.get(Producer).queue.enqueue(i);
      await waitFor(() => done === 15);
      expect(max).toBe(3);
      await app.close();
    });

    it('retries a failing item up to `attempts` with backoff, then acks it', async () => {
      const name = backend().uniqueName('retry');
      const tries: Array<{ attempt: number; at: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 3, backoff: { type: 'fixed', delayMs: 100 } })
        handle(_item: string, ctx: JobContext) {
          tries.push({ attempt: ctx.attempt, at: Date.now() });
          if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt} failed`);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Producer, Worker], hosting: hosting() });
      await app.get(Producer).queue.enqueue('x');
      await waitFor(() => app.get(HostingRegistry).get(name)?.processed === 1);
      expect(tries.map((t) => t.attempt)).toEqual([1, 2, 3]);
      expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(90);
      expect(app.get(HostingRegistry).get(name)).toMatchObject({ kind: 'queue', processed: 1, failed: 0, failures: 2, consecutiveFailures: 0, runs: 3 });
      await app.close();
    });

    it('reports an item that failed its last attempt once (log, status, onFailed) and goes on with the items behind it', async () => {
      const name = backend().uniqueName('failing');
      const failedHook: Array<{ item: string; error: string; attempts: number }> = [];
      const handled: string[] = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 2 })
        handle(item: string) {
          if (item === 'poison') throw new Error('cannot handle poison');
          handled.push(item);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app, logger } = await startHostingApp({
        imports: [
          queue(name, {
            onFailed: (item, error, ctx) => failedHook.push({ item: item as string, error: (error as Error).message, attempts: ctx.attempts }),
          }),
        ],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const producer = app.get(Producer).queue;
      const poisonId = await producer.enqueue('poison');
      await producer.enqueue('a');
      await producer.enqueue('b');
      await waitFor(() => failedHook.length === 1 && handled.length === 2);
      expect(handled).toEqual(['a', 'b']);
      expect(failedHook).toEqual([{ item: 'poison', error: 'cannot handle poison', attempts: 2 }]);
      const logged = logger.find('error', QUEUE_ITEM_FAILED(name, poisonId, 2));
      expect(logged).toHaveLength(1);
      expect(logged[0].details).toContain('cannot handle poison');
      expect(app.get(HostingRegistry).get(name)).toMatchObject({ processed: 2, failed: 1 });
      await app.close();
    });

    it('gives each item its own DI scope: JobContext is the request, OnScopeEnd sees the error', async () => {
      const name = backend().uniqueName('scoped');
      const ends: Array<{ item: string; error?: string }> = [];
      const repos = new Set<unknown>();
      @Injectable({ scope: Scope.REQUEST })
      class Repo implements OnScopeEnd {
        constructor(@Inject(REQUEST) readonly ctx: JobContext) {}
        item?: string;
        onScopeEnd(error?: unknown) {
          ends.push({ item: this.item!, error: error ? (error as Error).message : undefined });
        }
      }
      @Injectable()
      class Worker {
        constructor(private readonly repo: Repo) {}
        @QueueWorker(name)
        handle(item: string, ctx: JobContext) {
          expect(this.repo.ctx).toBe(ctx);
          repos.add(this.repo);
          this.repo.item = item;
          if (item === 'bad') throw new Error('bad item');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Repo, Worker, Producer], hosting: hosting() });
      for (const item of ['one', 'bad', 'two']) await app.get(Producer).queue.enqueue(item);
      await waitFor(() => ends.length === 3);
      expect(ends).toEqual([{ item: 'one' }, { item: 'bad', error: 'bad item' }, { item: 'two' }]);
      expect(repos.size).toBe(3);
      await app.close();
    });

    it('carries the headers an enqueue interceptor wrote to every delivery of the item, retries included, and runs the worker inside the chain', async () => {
      const name = backend().uniqueName('headers');
      const deliveries: Array<{ item: string; attempt: number; headers: Record<string, string> }> = [];
      const seenByInterceptor: Array<{ kind: string; name: string; data: unknown; attempt?: number }> = [];
      @WorkInterceptor()
      class RequestIdInterceptor implements WorkInterceptor {
        interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>) {
          enqueue.headers['x-request-id'] = `req-${String(enqueue.data)}`;
          return next();
        }
        intercept(work: WorkContext, next: WorkNext) {
          seenByInterceptor.push({ kind: work.kind, name: work.name, data: work.data, attempt: work.job?.attempt });
          return next();
        }
      }
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } })
        handle(item: string, ctx: JobContext) {
          deliveries.push({ item, attempt: ctx.attempt, headers: { ...ctx.headers } });
          if (item === 'b' && ctx.attempt === 1) throw new Error('first try of b fails');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Producer, Worker, RequestIdInterceptor], hosting: hosting() });
      await app.get(Producer).queue.enqueue('a');
      await app.get(Producer).queue.enqueue('b');
      await waitFor(() => app.get(HostingRegistry).get(name)?.processed === 2);
      expect(deliveries).toEqual([
        { item: 'a', attempt: 1, headers: { 'x-request-id': 'req-a' } },
        { item: 'b', attempt: 1, headers: { 'x-request-id': 'req-b' } },
        { item: 'b', attempt: 2, headers: { 'x-request-id': 'req-b' } },
      ]);
      expect(seenByInterceptor).toEqual([
        { kind: 'queue', name, data: 'a', attempt: 1 },
        { kind: 'queue', name, data: 'b', attempt: 1 },
        { kind: 'queue', name, data: 'b', attempt: 2 },
      ]);
      await app.close();
    });

    it('a static worker pays no scope cost', async () => {
      const name = backend().uniqueName('static');
      let attached = 0;
      ContextIdFactory.apply({
        attach: (id: ContextId) => {
          attached++;
          return () => id;
        },
      } as ContextIdStrategy);
      try {
        let handled = 0;
        @Injectable()
        class Worker {
          @QueueWorker(name)
          handle() {
            handled++;
          }
        }
        @Injectable()
        class Producer {
          constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
        }
        const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
        for (let i = 0; i < 5; i++) await app.get(Producer).queue.enqueue(i);
        await waitFor(() => handled === 5);
        expect(attached).toBe(0);
        await app.close();
      } finally {
        ContextIdFactory.apply(undefined as unknown as ContextIdStrategy);
      }
    });

    const drainWorker = (name: string, handled: number[]) => {
      @Injectable()
      class Worker {
        @QueueWorker(name)
        async handle(item: number) {
          await sleep(10);
          handled.push(item);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      return { Worker, Producer };
    };

    if (!backend().durable) {
      it('at shutdown: intake closes first (QueueClosedError), queued items still drain', async () => {
        const name = backend().uniqueName('drain');
        const handled: number[] = [];
        const { Worker, Producer } = drainWorker(name, handled);
        const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
        const producer = app.get(Producer).queue;
        for (let i = 0; i < 10; i++) await producer.enqueue(i);
        const closing = app.close();
        await waitFor(() => app.get(HostingRegistry).get(name)?.state !== 'running');
        await expect(producer.enqueue(99)).rejects.toBeInstanceOf(QueueClosedError);
        await closing;
        expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      });
    } else {
      it('at shutdown: intake closes first (QueueClosedError), the running item finishes, queued items wait in the store for the next process', async () => {
        const name = backend().uniqueName('drain');
        const handled: number[] = [];
        const first = drainWorker(name, handled);
        // A job BullMQ fetched with the finish of the one before, as the worker closed, stays active
        // under the closed worker's lock until it lapses and the next worker finds it stalled (seen on
        // PostgreSQL): short locks and checks keep that wait within the test's, the item still not lost.
        const shortLocks = { backend: { type: 'bullmq', lockDurationMs: 5_000, stalledIntervalMs: 5_000 } } as Partial<QueueOptions>;
        const { app } = await startHostingApp({ imports: [queue(name, shortLocks)], providers: [first.Worker, first.Producer], hosting: hosting() });
        const producer = app.get(first.Producer).queue;
        for (let i = 0; i < 10; i++) await producer.enqueue(i);
        await waitFor(() => handled.length >= 1);
        const closing = app.close();
        await waitFor(() => app.get(HostingRegistry).get(name)?.state !== 'running');
        await expect(producer.enqueue(99)).rejects.toBeInstanceOf(QueueClosedError);
        await closing;
        expect(handled.length).toBeLessThan(10);
        const next = drainWorker(name, handled);
        const restarted = await startHostingApp({ imports: [queue(name, shortLocks)], providers: [next.Worker, next.Producer], hosting: hosting() });
        // Generous: on a busy machine a durable store takes a while to hand the rest to a new process.
        await waitFor(() => handled.length === 10, 45_000, 'the next process to handle the rest');
        expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // each once, none lost
        await restarted.app.close();
      });
    }

    it('shows in HostingRegistry.list() as a queue with depth, in-flight, processed and failed', async () => {
      const name = backend().uniqueName('listed');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      @Injectable()
      class Worker {
        @QueueWorker(name)
        async handle() {
          await gate;
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      for (let i = 0; i < 4; i++) await app.get(Producer).queue.enqueue(i);
      const registry = app.get(HostingRegistry);
      await waitFor(() => registry.get(name)?.inFlight === 1 && registry.get(name)?.depth === 3, 15_000, 'counts');
      expect(registry.list().find((s) => s.name === name)).toMatchObject({ kind: 'queue', state: 'running', depth: 3, inFlight: 1, processed: 0, failed: 0 });
      release();
      await waitFor(() => registry.get(name)?.processed === 4);
      await app.close();
    });

    it("records the last item's start, finish and duration, also after a burst of fast items", async () => {
      const name = backend().uniqueName('timed');
      @Injectable()
      class Worker {
        @QueueWorker(name)
        async handle(item: number) {
          if (item === 0) await sleep(300);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Worker, Producer], hosting: hosting() });
      const registry = app.get(HostingRegistry);
      const before = Date.now();
      await app.get(Producer).queue.enqueue(0);
      await waitFor(() => registry.get(name)?.processed === 1);
      const slow = registry.get(name)!;
      expect(slow.runs).toBe(1);
      expect(slow.lastDurationMs).toBeGreaterThanOrEqual(250);
      expect(slow.lastStartedAt!.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(slow.lastFinishedAt!.getTime() - slow.lastStartedAt!.getTime()).toBe(slow.lastDurationMs);

      await sleep(20);
      const burst = Date.now();
      for (let i = 1; i <= 200; i++) await app.get(Producer).queue.enqueue(i);
      await waitFor(() => registry.get(name)?.processed === 201);
      const fast = registry.get(name)!;
      expect(fast.runs).toBe(201);
      expect(fast.lastFinishedAt!.getTime()).toBeGreaterThanOrEqual(burst - 5);
      expect(fast.lastDurationMs).toBeLessThan(250); // a margin a busy machine's pauses stay under
      await app.close();
    });

    describe('when workers are declared wrong', () => {
      it('fails at start-up for a worker of an unknown queue', async () => {
        const name = backend().uniqueName('known');
        @Injectable()
        class Worker {
          @QueueWorker('emials')
          handle() {}
        }
        const { app } = await compileHostingApp({ imports: [queue(name)], providers: [Worker], hosting: hosting() });
        await expect(app.init()).rejects.toThrow(UNKNOWN_QUEUE('Worker.handle', 'emials', [name]));
        await app.close().catch(() => undefined);
      });

      it('fails at start-up for two workers of one queue', async () => {
        const name = backend().uniqueName('twice');
        @Injectable()
        class A {
          @QueueWorker(name)
          handle() {}
        }
        @Injectable()
        class B {
          @QueueWorker(name)
          handle() {}
        }
        @Module({ providers: [B] })
        class Other {}
        const { app } = await compileHostingApp({ imports: [queue(name), Other], providers: [A], hosting: hosting() });
        const error: Error = await app.init().then(() => new Error('no error'), (e: Error) => e);
        expect([DUPLICATE_WORKER(name, 'A.handle', 'B.handle'), DUPLICATE_WORKER(name, 'B.handle', 'A.handle')]).toContain(error.message);
        await app.close().catch(() => undefined);
      });
    });
  });
}
