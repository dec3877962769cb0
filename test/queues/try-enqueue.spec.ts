/**
 * `WorkQueue.tryEnqueue` beside enqueue interceptors: a synchronous interceptor's headers travel
 * with the item; one that calls next() later makes tryEnqueue throw, and adds nothing then or later.
 */
import { Injectable } from '@nestjs/common';
import { HostingModule, InjectQueue, QueueWorker, type EnqueueContext, type JobContext, type WorkInterceptor, type WorkQueue } from '../../src/index.js';
import { TRY_ENQUEUE_ASYNC_INTERCEPTOR } from '../../src/hosting.messages.js';
import { sleep, startHostingApp, waitFor } from '../support/hosting-app.js';

describe('WorkQueue.tryEnqueue with enqueue interceptors', () => {
  it("runs a synchronous interceptor: its headers reach the item's JobContext", async () => {
    const seen: Array<{ item: number; headers: Readonly<Record<string, string>> }> = [];
    const tagger: WorkInterceptor = {
      intercept: (_work, next) => next(),
      interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>) {
        enqueue.headers['x-tag'] = `item-${String(enqueue.data)}`;
        return next();
      },
    };
    @Injectable()
    class Producer {
      constructor(@InjectQueue('tagged') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('tagged')
      handle(item: number, ctx: JobContext) {
        seen.push({ item, headers: ctx.headers });
      }
    }
    const { app } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'tagged' })],
      providers: [Producer, Worker],
      hosting: { interceptors: [tagger] },
    });
    const queue = app.get(Producer).queue;
    expect(queue.tryEnqueue(1)).toBe(true);
    expect(queue.tryEnqueue(2)).toBe(true);
    await waitFor(() => seen.length === 2);
    expect(seen).toEqual([
      { item: 1, headers: { 'x-tag': 'item-1' } },
      { item: 2, headers: { 'x-tag': 'item-2' } },
    ]);
    await app.close();
  });

  it('throws, naming the queue, when an interceptor calls next() later; the item is not added, then or later', async () => {
    let release!: () => void;
    const later = new Promise<void>((resolve) => (release = resolve));
    const slow: WorkInterceptor = {
      intercept: (_work, next) => next(),
      async interceptEnqueue(_enqueue: EnqueueContext, next: () => Promise<string>) {
        await later;
        return next();
      },
    };
    const handled: number[] = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('slow') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('slow')
      handle(item: number) {
        handled.push(item);
      }
    }
    const { app } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'slow' })],
      providers: [Producer, Worker],
      hosting: { interceptors: [slow] },
    });
    const queue = app.get(Producer).queue;
    expect(() => queue.tryEnqueue(1)).toThrow(TRY_ENQUEUE_ASYNC_INTERCEPTOR('slow'));
    release();
    await sleep(50);
    expect(queue.depth).toBe(0);
    // The queue itself works: an enqueue after the same interceptor is delivered.
    await queue.enqueue(2);
    await waitFor(() => handled.length === 1);
    expect(handled).toEqual([2]);
    await app.close();
  });
});
