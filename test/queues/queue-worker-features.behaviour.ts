/**
 * The worker side of issue 14, the same on every backend, written once against the public API
 * and run by memory-worker-features.spec.ts and the BullMQ spec: per-item attempts and backoff,
 * timeoutMs, the limiter, RateLimitedError, and the cancelled outcome of a running item.
 * Real time with generous margins (BullMQ has no virtual clock); the memory spec also pins the
 * exact instants on VirtualTime.
 */
import { Injectable, type DynamicModule } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueItemCancelledError,
  QueueItemTimeoutError,
  QueueWorker,
  RateLimitedError,
  type JobContext,
  type QueueOptions,
  type WorkQueue,
} from '../../src/index.js';
import { sleep, startHostingApp, waitFor } from '../support/hosting-app.js';
import type { BackendUnderTest } from './work-queue.behaviour.js';

export function describeQueueWorkerFeatures(label: string, backend: () => BackendUnderTest): void {
  describe(`queue worker features (${label} backend)`, () => {
    const queue = (name: string, extra: Partial<QueueOptions> = {}): DynamicModule =>
      HostingModule.registerQueue({ name, ...backend().queueOptions(), ...extra });
    const hosting = () => backend().hostingOptions();

    it("an item's own attempts and backoff win over the worker's, both ways", async () => {
      const name = backend().uniqueName('item-attempts');
      const tries: Array<{ item: string; attempt: number; at: number }> = [];
      const failed: Array<{ item: string; attempts: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 1 })
        handle(item: string, ctx: JobContext) {
          tries.push({ item, attempt: ctx.attempt, at: Date.now() });
          if (item === 'more' && ctx.attempt < 3) throw new Error(`try ${ctx.attempt}`);
          if (item === 'twice') throw new Error('always');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (item, _error, ctx) => failed.push({ item: item as string, attempts: ctx.attempts }) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const producer = app.get(Producer).queue;
      // Worker: 1 try. This item: 3 tries, 300 ms apart.
      await producer.enqueue('more', { attempts: 3, backoff: { type: 'fixed', delayMs: 300 } });
      await waitFor(() => app.get(HostingRegistry).get(name)?.processed === 1, 15_000, 'the item that got three tries');
      const more = tries.filter((t) => t.item === 'more');
      expect(more.map((t) => t.attempt)).toEqual([1, 2, 3]);
      expect(more[1].at - more[0].at).toBeGreaterThanOrEqual(280);
      expect(more[2].at - more[1].at).toBeGreaterThanOrEqual(280);
      expect(failed).toEqual([]);
      // Its own attempts decide when it fails too: 2 tries, then onFailed.
      await producer.enqueue('twice', { attempts: 2, backoff: { type: 'fixed', delayMs: 50 } });
      await waitFor(() => failed.length === 1, 15_000, 'the item to fail its own last try');
      expect(failed).toEqual([{ item: 'twice', attempts: 2 }]);
      expect(tries.filter((t) => t.item === 'twice').map((t) => t.attempt)).toEqual([1, 2]);
      await app.close();
    });

    it('an item asking for one try on a worker that gives three fails at its first', async () => {
      const name = backend().uniqueName('item-one-try');
      const tries: number[] = [];
      const failed: Array<{ item: string; attempts: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 3, backoff: { type: 'fixed', delayMs: 50 } })
        handle(_item: string, ctx: JobContext) {
          tries.push(ctx.attempt);
          throw new Error('always');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (item, _error, ctx) => failed.push({ item: item as string, attempts: ctx.attempts }) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      await app.get(Producer).queue.enqueue('once', { attempts: 1 });
      await waitFor(() => failed.length === 1, 15_000, 'the item to fail');
      expect(failed).toEqual([{ item: 'once', attempts: 1 }]);
      expect(tries).toEqual([1]);
      expect(app.get(HostingRegistry).get(name)).toMatchObject({ failed: 1, retried: 0 });
      await app.close();
    });

    it('timeoutMs aborts the signal of a handler that never settles, fails the try (retried, then onFailed) and frees the lane; its later outcome is ignored', async () => {
      const name = backend().uniqueName('timeout');
      const started: Array<{ item: string; attempt: number; at: number }> = [];
      const reasons: unknown[] = [];
      const release: Array<() => void> = [];
      const failed: Array<{ item: string; error: unknown; attempts: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { timeoutMs: 300, attempts: 2, backoff: { type: 'fixed', delayMs: 10 }, concurrency: 1 })
        handle(item: string, ctx: JobContext) {
          started.push({ item, attempt: ctx.attempt, at: Date.now() });
          if (item !== 'stuck') return undefined;
          ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason));
          // Never settles on its own: it ignores its signal. The test lets it go at the end.
          return new Promise<void>((resolve) => release.push(resolve));
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (item, error, ctx) => failed.push({ item: item as string, error, attempts: ctx.attempts }) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const registry = app.get(HostingRegistry);
      const producer = app.get(Producer).queue;
      const stuckId = await producer.enqueue('stuck');
      await waitFor(() => started.length === 1, 15_000, 'the stuck item to start');
      await producer.enqueue('next');
      // The stuck try is cut off at 300 ms: the one lane takes 'next', then the retry of 'stuck', which times out too.
      await waitFor(() => failed.length === 1, 15_000, 'the stuck item to fail its last try');
      expect(started.map((s) => [s.item, s.attempt])).toContainEqual(['next', 1]);
      const stuck = started.filter((s) => s.item === 'stuck');
      expect(stuck.map((s) => s.attempt)).toEqual([1, 2]);
      expect(stuck[1].at - stuck[0].at).toBeGreaterThanOrEqual(280);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ item: 'stuck', attempts: 2 });
      expect(failed[0].error).toBeInstanceOf(QueueItemTimeoutError);
      expect(failed[0].error).toMatchObject({ queueName: name, itemId: stuckId, timeoutMs: 300 });
      expect(reasons).toHaveLength(2);
      for (const reason of reasons) expect(reason).toBeInstanceOf(QueueItemTimeoutError);
      await waitFor(() => registry.get(name)?.processed === 1, 15_000, "'next' to be processed");
      expect(registry.get(name)).toMatchObject({ processed: 1, failed: 1, retried: 1, inFlight: 0 });
      // The abandoned handlers settle now: nothing is reported twice.
      for (const go of release.splice(0)) go();
      await sleep(200);
      expect(registry.get(name)).toMatchObject({ processed: 1, failed: 1, retried: 1, inFlight: 0 });
      expect(failed).toHaveLength(1);
      await app.close();
    });

    it("an item's own timeoutMs wins over the worker's", async () => {
      const name = backend().uniqueName('item-timeout');
      const failed: unknown[] = [];
      const done: string[] = [];
      const release: Array<() => void> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { timeoutMs: 250, attempts: 1, concurrency: 2 })
        async handle(item: string) {
          if (item === 'short') await new Promise<void>((resolve) => release.push(resolve)); // never on its own
          else await sleep(800); // past the worker's 250 ms, within its own 10 s
          done.push(item);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (_item, error) => failed.push(error) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const producer = app.get(Producer).queue;
      await producer.enqueue('long', { timeoutMs: 10_000 });
      await producer.enqueue('short', { timeoutMs: 100 });
      await waitFor(() => failed.length === 1 && done.length === 1, 15_000, 'one timeout and one success');
      expect(done).toEqual(['long']);
      expect(failed[0]).toBeInstanceOf(QueueItemTimeoutError);
      expect(failed[0]).toMatchObject({ timeoutMs: 100 });
      for (const go of release.splice(0)) go();
      await app.close();
    });

    it('the limiter starts at most `max` tries per window of `durationMs`, in order, and runs every item', async () => {
      const name = backend().uniqueName('limiter');
      const starts: Array<{ item: number; at: number }> = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { concurrency: 4, limiter: { max: 2, durationMs: 500 } })
        handle(item: number) {
          starts.push({ item, at: Date.now() });
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
      }
      const { app } = await startHostingApp({ imports: [queue(name)], providers: [Producer, Worker], hosting: hosting() });
      const items = [1, 2, 3, 4, 5, 6, 7];
      for (const item of items) await app.get(Producer).queue.enqueue(item);
      await waitFor(() => starts.length === items.length, 20_000, 'every item to run');
      expect(starts.map((s) => s.item)).toEqual(items);
      // Fixed windows of 500 ms with at most 2 starts each: 5 starts span 3 windows, so one whole window
      // lies between the first and the fifth of any five; 7 starts need 4 windows.
      const at = starts.map((s) => s.at);
      for (let i = 0; i + 4 < at.length; i++) expect(at[i + 4] - at[i]).toBeGreaterThanOrEqual(480);
      // The fourth window starts 1,500 ms after the first does, and the first start may come late in the first window.
      expect(at[6] - at[0]).toBeGreaterThanOrEqual(1_000);
      await app.close();
    });

    it('RateLimitedError puts the item back without using up its try, and nothing is delivered for retryAfterMs', async () => {
      const name = backend().uniqueName('rate-limited');
      const starts: Array<{ item: string; attempt: number; at: number }> = [];
      const failed: unknown[] = [];
      let limitedOnce = false;
      @Injectable()
      class Worker {
        @QueueWorker(name, { concurrency: 1, attempts: 1 })
        handle(item: string, ctx: JobContext) {
          starts.push({ item, attempt: ctx.attempt, at: Date.now() });
          if (item === 'a' && !limitedOnce) {
            limitedOnce = true;
            throw new RateLimitedError(600);
          }
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (_item, error) => failed.push(error) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const registry = app.get(HostingRegistry);
      await app.get(Producer).queue.enqueueMany(['a', 'b', 'c']);
      await waitFor(() => registry.get(name)?.processed === 3, 20_000, 'every item to be processed');
      const a = starts.filter((s) => s.item === 'a');
      // Tried again with the same attempt number: attempts 1 would have made it a failure otherwise.
      expect(a.map((s) => s.attempt)).toEqual([1, 1]);
      const limitedAt = a[0].at;
      for (const later of starts.slice(1)) expect(later.at - limitedAt).toBeGreaterThanOrEqual(570);
      expect(failed).toEqual([]);
      expect(registry.get(name)).toMatchObject({ processed: 3, failed: 0, retried: 0 });
      await app.close();
    });

    it('a RateLimitedError with a bad retryAfterMs fails the try with a TypeError naming the value', async () => {
      const name = backend().uniqueName('rate-limited-bad');
      const failed: unknown[] = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 1 })
        handle() {
          throw new RateLimitedError(-5);
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (_item, error) => failed.push(error) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      await app.get(Producer).queue.enqueue('x');
      await waitFor(() => failed.length === 1, 15_000, 'the try to fail');
      expect(failed[0]).toBeInstanceOf(TypeError);
      expect((failed[0] as Error).message).toMatch(/RateLimitedError.*retryAfterMs.*-5/);
      await app.close();
    });

    it('cancel(id) of a running item: the handler honours ctx.signal and throws, the try ends cancelled (no retry, not failed)', async () => {
      const name = backend().uniqueName('cancel-running');
      const tries: Array<{ item: string; attempt: number }> = [];
      const reasons: unknown[] = [];
      const failed: unknown[] = [];
      @Injectable()
      class Worker {
        @QueueWorker(name, { attempts: 3, backoff: { type: 'fixed', delayMs: 20 }, concurrency: 1 })
        async handle(item: string, ctx: JobContext) {
          tries.push({ item, attempt: ctx.attempt });
          if (item !== 'long') return;
          await new Promise<void>((_resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('not cancelled in time')), 15_000);
            ctx.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              reasons.push(ctx.signal.reason);
              reject(ctx.signal.reason as Error);
            });
          });
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      const { app } = await startHostingApp({
        imports: [queue(name, { onFailed: (_item, error) => failed.push(error) })],
        providers: [Producer, Worker],
        hosting: hosting(),
      });
      const registry = app.get(HostingRegistry);
      const producer = app.get(Producer).queue;
      const id = await producer.enqueue('long');
      await waitFor(() => tries.length === 1, 15_000, 'the item to start');
      await expect(producer.cancel(id)).resolves.toBe('aborted');
      await producer.enqueue('after');
      await waitFor(() => registry.get(name)?.processed === 1, 15_000, "'after' to be processed");
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toBeInstanceOf(QueueItemCancelledError);
      // Long enough for a retry (20 ms backoff) to have come, were there one.
      await sleep(300);
      expect(tries).toEqual([
        { item: 'long', attempt: 1 },
        { item: 'after', attempt: 1 },
      ]);
      expect(failed).toEqual([]);
      expect(registry.get(name)).toMatchObject({ processed: 1, failed: 0, retried: 0, cancelled: 1 });
      await app.close();
    });
  });
}
