/**
 * The worker features of issue 14 on the memory backend: the shared suite (real time), then the
 * exact instants on VirtualTime — timeoutMs, the limiter's windows, RateLimitedError's pause, the
 * cancelled outcome, and the drained event.
 */
import { Injectable } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueItemTimeoutError,
  QueueWorker,
  RateLimitedError,
  type JobContext,
  type QueueEvent,
  type QueueOptions,
  type QueueWorkerOptions,
  type WorkQueue,
} from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';
import { describeQueueWorkerFeatures } from './queue-worker-features.behaviour.js';

let counter = 0;
describeQueueWorkerFeatures('memory', () => ({
  queueOptions: () => ({}),
  hostingOptions: () => ({}),
  uniqueName: (base) => `${base}-${++counter}`,
}));

type Handler = (item: string, ctx: JobContext) => unknown;

/** A memory queue 'jobs' on virtual time whose worker calls `handler`. */
async function onVirtualTime(worker: QueueWorkerOptions, handler: Handler, queue: Partial<QueueOptions> = {}) {
  const time = new VirtualTime();
  @Injectable()
  class Producer {
    constructor(@InjectQueue('jobs') readonly queue: WorkQueue<string>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker('jobs', worker)
    handle(item: string, ctx: JobContext) {
      return handler(item, ctx);
    }
  }
  const { app } = await startHostingApp({
    imports: [HostingModule.registerQueue({ name: 'jobs', ...queue })],
    providers: [Producer, Worker],
    hosting: { timeProvider: time },
  });
  const registry = app.get(HostingRegistry);
  return { app, time, registry, producer: app.get(Producer).queue, status: () => registry.get('jobs')! };
}

describe('memory backend: timeoutMs on virtual time', () => {
  it('fails the try exactly at timeoutMs, and the lane takes the next item then while the handler still runs', async () => {
    const started: Array<{ item: string; attempt: number; at: number }> = [];
    const failed: unknown[] = [];
    const release: Array<() => void> = [];
    let time!: VirtualTime;
    const t = await onVirtualTime(
      { timeoutMs: 100, attempts: 1, concurrency: 1 },
      (item, ctx) => {
        started.push({ item, attempt: ctx.attempt, at: time.monotonic() });
        return new Promise<void>((resolve) => release.push(resolve));
      },
      { onFailed: (_item, error) => failed.push(error) },
    );
    time = t.time;
    const t0 = time.monotonic();
    await t.producer.enqueue('stuck');
    await t.producer.enqueue('next');
    await time.advance(0);
    expect(started.map((s) => s.item)).toEqual(['stuck']);
    await time.advance(99);
    expect(failed).toEqual([]);
    expect(t.status()).toMatchObject({ inFlight: 1, depth: 1 });
    await time.advance(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(QueueItemTimeoutError);
    // The abandoned handler no longer counts: the one lane runs 'next', and only it is in flight.
    expect(started).toEqual([
      { item: 'stuck', attempt: 1, at: t0 },
      { item: 'next', attempt: 1, at: t0 + 100 },
    ]);
    expect(t.status()).toMatchObject({ inFlight: 1, depth: 0, failed: 1 });
    release[0](); // the abandoned handler resolves late: ignored
    await time.advance(0);
    expect(t.status()).toMatchObject({ inFlight: 1, processed: 0, failed: 1 });
    release[1]();
    await time.advance(0);
    expect(t.status()).toMatchObject({ inFlight: 0, processed: 1, failed: 1 });
    await t.app.close();
  });

  it('clears the timer when the try settles first, and arms none when no timeout applies', async () => {
    const release: Array<() => void> = [];
    const failed: unknown[] = [];
    const t = await onVirtualTime({ timeoutMs: 100, attempts: 1 }, () => new Promise<void>((resolve) => release.push(resolve)), {
      onFailed: (_item, error) => failed.push(error),
    });
    const idle = t.time.pendingTimers;
    await t.producer.enqueue('a');
    await t.time.advance(0);
    expect(t.time.pendingTimers).toBe(idle + 1);
    await t.time.advance(50);
    release[0]();
    await t.time.advance(0);
    expect(t.time.pendingTimers).toBe(idle);
    await t.time.advance(200);
    expect(failed).toEqual([]);
    expect(t.status()).toMatchObject({ processed: 1, failed: 0 });
    await t.app.close();

    // Without a timeout a pending handler arms nothing (virtual time cannot advance past work that waits on no timer: real turns here).
    const untimed = await onVirtualTime({ attempts: 1 }, () => new Promise<void>((resolve) => release.push(resolve)));
    const before = untimed.time.pendingTimers;
    await untimed.producer.enqueue('b');
    await waitFor(() => release.length === 2);
    expect(untimed.status()).toMatchObject({ inFlight: 1 });
    expect(untimed.time.pendingTimers).toBe(before);
    release[1]();
    await waitFor(() => untimed.status().processed === 1);
    await untimed.app.close();
  });

  it("an item's timeoutMs applies where the worker has none, and the timed-out try is retried per attempts", async () => {
    const started: Array<{ attempt: number; at: number }> = [];
    const failed: unknown[] = [];
    let time!: VirtualTime;
    const t = await onVirtualTime(
      { attempts: 2, backoff: { type: 'fixed', delayMs: 30 } },
      (_item, ctx) => {
        started.push({ attempt: ctx.attempt, at: time.monotonic() });
        return new Promise<void>(() => undefined);
      },
      { onFailed: (_item, error) => failed.push(error) },
    );
    time = t.time;
    const t0 = time.monotonic();
    await t.producer.enqueue('x', { timeoutMs: 40 });
    await time.advance(40 + 30 + 40);
    expect(started).toEqual([
      { attempt: 1, at: t0 },
      { attempt: 2, at: t0 + 70 },
    ]);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ timeoutMs: 40 });
    expect(t.status()).toMatchObject({ failed: 1, retried: 1, inFlight: 0 });
    await t.app.close();
  });
});

describe('memory backend: the limiter on virtual time', () => {
  it('starts at most max tries per fixed window, in order, and shows rateLimitedUntil while the window is full', async () => {
    const started: Array<{ item: string; at: number }> = [];
    let time!: VirtualTime;
    const t = await onVirtualTime({ concurrency: 3, limiter: { max: 2, durationMs: 100 } }, (item) => {
      started.push({ item, at: time.monotonic() });
    });
    time = t.time;
    const t0 = time.monotonic();
    for (const item of ['a', 'b', 'c', 'd', 'e']) await t.producer.enqueue(item);
    await time.advance(0);
    expect(started.map((s) => s.item)).toEqual(['a', 'b']);
    expect(t.status().rateLimitedUntil).toEqual(new Date(time.now() + 100));
    expect(t.status().depth).toBe(3);
    await time.advance(99);
    expect(started).toHaveLength(2);
    await time.advance(1);
    expect(started.map((s) => s.item)).toEqual(['a', 'b', 'c', 'd']);
    await time.advance(100);
    expect(started).toEqual([
      { item: 'a', at: t0 },
      { item: 'b', at: t0 },
      { item: 'c', at: t0 + 100 },
      { item: 'd', at: t0 + 100 },
      { item: 'e', at: t0 + 200 },
    ]);
    // One start in this window: the gate is open.
    expect(t.status().rateLimitedUntil).toBeUndefined();
    // A new window opens with the next start after the last one ended.
    await time.advance(1_000);
    await t.producer.enqueue('f');
    await time.advance(0);
    expect(started.at(-1)).toEqual({ item: 'f', at: t0 + 1_200 });
    await t.app.close();
  });
});

describe('memory backend: RateLimitedError on virtual time', () => {
  it('puts the item back at the head with the same attempt, delivers nothing for retryAfterMs, and is neither a failure nor a retry', async () => {
    const started: Array<{ item: string; attempt: number; at: number }> = [];
    const failed: unknown[] = [];
    let time!: VirtualTime;
    let limited = false;
    const t = await onVirtualTime(
      { concurrency: 2, attempts: 1 },
      (item, ctx) => {
        started.push({ item, attempt: ctx.attempt, at: time.monotonic() });
        if (item === 'a' && !limited) {
          limited = true;
          // Another copy of the library throws its own class: recognised by name and retryAfterMs.
          throw Object.assign(new Error('429'), { name: 'RateLimitedError', retryAfterMs: 250 });
        }
      },
      { onFailed: (_item, error) => failed.push(error) },
    );
    time = t.time;
    const t0 = time.monotonic();
    await t.producer.enqueueMany(['a', 'b']);
    await time.advance(0);
    expect(started).toEqual([{ item: 'a', attempt: 1, at: t0 }]);
    expect(t.status()).toMatchObject({ depth: 2, inFlight: 0, failed: 0, retried: 0 });
    expect(t.status().rateLimitedUntil).toEqual(new Date(time.now() + 250));
    await time.advance(249);
    expect(started).toHaveLength(1);
    await time.advance(1);
    expect(started).toEqual([
      { item: 'a', attempt: 1, at: t0 },
      { item: 'a', attempt: 1, at: t0 + 250 },
      { item: 'b', attempt: 1, at: t0 + 250 },
    ]);
    expect(failed).toEqual([]);
    expect(t.status()).toMatchObject({ processed: 2, failed: 0, retried: 0, depth: 0 });
    expect(t.status().rateLimitedUntil).toBeUndefined();
    await t.app.close();
  });

  it('a retryAfterMs over 2^31−1 fails the try with a TypeError', async () => {
    const failed: unknown[] = [];
    const t = await onVirtualTime(
      { attempts: 1 },
      () => {
        throw new RateLimitedError(2 ** 31);
      },
      { onFailed: (_item, error) => failed.push(error) },
    );
    await t.producer.enqueue('x');
    await t.time.advance(0);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(TypeError);
    expect((failed[0] as Error).message).toContain(`retryAfterMs must be a number of milliseconds from 1 to ${2 ** 31 - 1}`);
    expect((failed[0] as Error).message).toContain(String(2 ** 31));
    await t.app.close();
  });
});

describe('memory backend: a cancelled running item', () => {
  it('that returns normally despite the abort is processed (onAck), not cancelled', async () => {
    const release: Array<() => void> = [];
    const t = await onVirtualTime({ attempts: 3 }, () => new Promise<void>((resolve) => release.push(resolve)));
    const id = await t.producer.enqueue('x');
    await waitFor(() => release.length === 1); // a handler waiting on no timer: real turns, not virtual time
    await expect(t.producer.cancel(id)).resolves.toBe('aborted');
    release[0]();
    await waitFor(() => t.status().processed === 1);
    expect(t.status()).toMatchObject({ processed: 1, failed: 0, inFlight: 0 });
    expect(t.status().cancelled ?? 0).toBe(0);
    await t.app.close();
  });

  it('that times out after the cancel ends as cancelled, not retried', async () => {
    const starts: number[] = [];
    const failed: unknown[] = [];
    const t = await onVirtualTime(
      { attempts: 3, timeoutMs: 100, backoff: { type: 'fixed', delayMs: 10 } },
      (_item, ctx) => {
        starts.push(ctx.attempt);
        return new Promise<void>(() => undefined); // ignores its signal
      },
      { onFailed: (_item, error) => failed.push(error) },
    );
    const id = await t.producer.enqueue('x');
    await t.time.advance(0);
    await expect(t.producer.cancel(id)).resolves.toBe('aborted');
    await t.time.advance(500);
    expect(starts).toEqual([1]);
    expect(failed).toEqual([]);
    expect(t.status()).toMatchObject({ cancelled: 1, failed: 0, retried: 0, inFlight: 0 });
    await t.app.close();
  });
});

describe('memory backend: drained', () => {
  it('is emitted once nothing waits or runs after an item settled, not while a retry waits', async () => {
    const events: Array<{ name: string; at: number }> = [];
    const t = await onVirtualTime({ attempts: 2, backoff: { type: 'fixed', delayMs: 50 } }, (item, ctx) => {
      if (item === 'flaky' && ctx.attempt === 1) throw new Error('once');
    });
    const time = t.time;
    const t0 = time.monotonic();
    t.registry.onQueueEvent('jobs', 'drained', (event: QueueEvent) => events.push({ name: event.name, at: time.monotonic() }));
    await t.producer.enqueueMany(['a', 'b']);
    await time.advance(0);
    expect(events).toEqual([{ name: 'drained', at: t0 }]);
    await t.producer.enqueue('flaky');
    await time.advance(49);
    expect(events).toHaveLength(1); // its retry waits out the backoff
    await time.advance(1);
    expect(events).toEqual([
      { name: 'drained', at: t0 },
      { name: 'drained', at: t0 + 50 },
    ]);
    await t.app.close();
  });
});
