/**
 * Issue 14 on the BullMQ backend, what only BullMQ shows: enqueue options as BullMQ's own job
 * options in Redis, ids (jobId, deduplication with idTtlMs), enqueueMany as one addBulk, the removal
 * policy (removeOnComplete, deadLetters → removeOnFail), dead letters (the failed set) listed,
 * redriven and discarded, cancel, and two worker processes on one queue (dedup and cancel across them).
 * Real redis-server; apps through the public API, the backend through `QueueBackend` where the
 * dead-letter API above it (HostingRegistry) is not the subject.
 */
import { jest } from '@jest/globals';
import { Injectable, type DynamicModule } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import * as net from 'node:net';
import {
  HostingModule,
  InjectQueue,
  QueueItemCancelledError,
  QueueUnavailableError,
  QueueWorker,
  type BullMqBackendOptions,
  type JobContext,
  type QueueOptions,
  type WorkQueue,
} from '../../src/index.js';
import { TRY_ENQUEUE_UNSUPPORTED } from '../../src/hosting.messages.js';
import { BullMqQueueBackend, keepJobs } from '../../src/queues/bullmq/bullmq-queue-backend.js';
import { ITEM_OPTIONS_KEY } from '../../src/queues/bullmq/item-metadata.js';
import type { WorkerPolicy } from '../../src/queues/queue-backend.interface.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
let raw: Redis;
let counter = 0;
const unique = (base: string) => `${base}-${process.pid}-${++counter}`;
const apps: HostingApp[] = [];
const queues: Queue[] = [];
const backends: Array<BullMqQueueBackend<unknown>> = [];
const children: ChildApp[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.port, redis.host);
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
  await Promise.all(apps.splice(0).map((a) => a.app.close()));
  await Promise.all(backends.splice(0).map((b) => b.dispose()));
  await Promise.all(queues.splice(0).map((q) => q.close()));
});

/** A raw BullMQ Queue on `name`, to see what is in Redis. */
function inspect(name: string): Queue {
  const queue = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  queues.push(queue);
  return queue;
}

const register = (name: string, extra: Partial<QueueOptions> = {}, backend: Partial<BullMqBackendOptions> = {}): DynamicModule =>
  HostingModule.registerQueue({ name, backend: { type: 'bullmq', ...backend }, ...extra });

/** An app with `name` registered and a producer for it; `handle` makes it a worker too (attempts 1). */
async function app<T>(
  name: string,
  handle?: (item: T, ctx: JobContext) => unknown,
  extra: Partial<QueueOptions> = {},
  backend: Partial<BullMqBackendOptions> = {},
): Promise<WorkQueue<T>> {
  @Injectable()
  class Producer {
    constructor(@InjectQueue(name) readonly queue: WorkQueue<T>) {}
  }
  const providers: Array<new (...args: never[]) => object> = [Producer];
  if (handle) {
    const run = handle;
    @Injectable()
    class Worker {
      @QueueWorker(name)
      run(item: T, ctx: JobContext) {
        return run(item, ctx);
      }
    }
    providers.push(Worker);
  }
  const started = await startHostingApp({ imports: [register(name, extra, backend)], providers, hosting: { redis: redis.url } });
  apps.push(started);
  return started.app.get(Producer).queue;
}

/** Polls an async condition (Redis state) until true. */
async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function policy<T>(overrides: Partial<WorkerPolicy<T>> = {}): WorkerPolicy<T> {
  return {
    concurrency: 1,
    attempts: 1,
    backoff: { type: 'fixed', delayMs: 0 },
    onAck: () => undefined,
    onNack: () => undefined,
    onFailed: () => undefined,
    onCancelled: () => undefined,
    onRateLimited: () => undefined,
    ...overrides,
  };
}

function backend<T>(name: string): BullMqQueueBackend<T> {
  const created = new BullMqQueueBackend<T>({ queueName: name, connection: redis.url, logger: new CaptureLogger() });
  backends.push(created as BullMqQueueBackend<unknown>);
  return created;
}

describe('BullMQ queue features', () => {
  it("enqueue options are BullMQ's own job options in Redis; what BullMQ has no field for rides in the job's metadata", async () => {
    const name = unique('raw-options');
    const queue = await app<string>(name);
    const plain = await queue.enqueue('plain');
    const prioritized = await queue.enqueue('p', { priority: 7 });
    const delayed = await queue.enqueue('d', { delayMs: 60_000 });
    const own = await queue.enqueue('o', { id: 'order-1', attempts: 4, backoff: { type: 'exponential', delayMs: 250 }, timeoutMs: 5_000 });
    const throttled = await queue.enqueue('t', { id: 'throttle-1', idTtlMs: 60_000 });
    expect(own).toBe('order-1');
    expect(throttled).toBe('throttle-1');

    const bull = inspect(name);
    const job = async (id: string) => (await bull.getJob(id))!;
    expect(await bull.getJobState(prioritized)).toBe('prioritized');
    expect((await job(prioritized)).opts.priority).toBe(7);
    expect(await bull.getJobState(delayed)).toBe('delayed');
    expect((await job(delayed)).opts.delay).toBe(60_000);

    const ownJob = await job('order-1');
    expect(ownJob.data).toBe('o');
    expect(ownJob.opts).toMatchObject({
      jobId: 'order-1',
      attempts: 4,
      backoff: { type: 'exponential', delay: 250 },
      removeOnComplete: true,
      deduplication: { id: 'order-1' },
    });
    expect(ownJob.opts.deduplication!.ttl).toBeUndefined();
    expect(JSON.parse(ownJob.opts.telemetry!.metadata!)).toEqual({
      [ITEM_OPTIONS_KEY]: { attempts: 4, backoff: { type: 'exponential', delayMs: 250 }, timeoutMs: 5_000 },
    });

    const throttledJob = await job('throttle-1');
    expect(throttledJob.opts).toMatchObject({ jobId: 'throttle-1', removeOnComplete: true, deduplication: { id: 'throttle-1', ttl: 60_000 } });
    const ttl = await raw.pttl(`bull:${name}:de:throttle-1`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const plainJob = await job(plain);
    expect(plainJob.opts.attempts ?? 0).toBe(0); // BullMQ's "no retries"
    expect(plainJob.opts.telemetry).toBeUndefined();
    expect(plainJob.opts.deduplication).toBeUndefined();
    expect(plainJob.opts.removeOnComplete).toBeUndefined();
  });

  it('delivers the item its own attempts, backoff and timeoutMs on ctx.itemOptions, and headers as before', async () => {
    const name = unique('item-options');
    const seen: JobContext[] = [];
    const queue = await app<string>(name, (_item, ctx) => {
      seen.push(ctx);
    });
    await queue.enqueue('plain');
    await queue.enqueue('own', { attempts: 2, timeoutMs: 9_000, priority: 3 });
    await waitFor(() => seen.length === 2);
    expect(seen[0].itemOptions).toBeUndefined();
    expect(seen[1].itemOptions).toEqual({ attempts: 2, timeoutMs: 9_000 });
    expect(seen[1].headers).toEqual({});
  });

  it('an id already in the queue: enqueue adds nothing and resolves with the id; once completed the id is free again', async () => {
    const name = unique('dedup');
    const handled: string[] = [];
    const queue = await app<string>(name, (item) => {
      handled.push(item);
    });
    expect(await queue.enqueue('first', { id: 'k', delayMs: 800 })).toBe('k');
    expect(await queue.enqueue('second', { id: 'k' })).toBe('k');
    const bull = inspect(name);
    expect((await bull.getJob('k'))!.data).toBe('first');
    await waitFor(() => handled.length === 1);
    await until(async () => (await bull.getJob('k')) === undefined, 'the completed job with an id removed');
    expect(await queue.enqueue('third', { id: 'k' })).toBe('k');
    await waitFor(() => handled.length === 2);
    expect(handled).toEqual(['first', 'third']);
  });

  it('with idTtlMs the id stays taken after the item completed, until idTtlMs after the enqueue', async () => {
    const name = unique('dedup-ttl');
    const handled: string[] = [];
    const queue = await app<string>(name, (item) => {
      handled.push(item);
    });
    const enqueuedAt = Date.now();
    await queue.enqueue('first', { id: 't', idTtlMs: 2_000 });
    await waitFor(() => handled.length === 1);
    const bull = inspect(name);
    await until(async () => (await bull.getJob('t')) === undefined, 'the completed job with an id removed');
    expect(await queue.enqueue('throttled', { id: 't' })).toBe('t');
    expect(Date.now() - enqueuedAt).toBeLessThan(2_000); // still inside the TTL: the test means what it says
    expect(await bull.getJob('t')).toBeUndefined();
    await until(async () => (await raw.pttl(`bull:${name}:de:t`)) === -2, 'the id ttl to pass');
    expect(Date.now() - enqueuedAt).toBeGreaterThanOrEqual(1_900);
    expect(await queue.enqueue('after', { id: 't' })).toBe('t');
    await waitFor(() => handled.length === 2);
    expect(handled).toEqual(['first', 'after']);
  });

  it('with idTtlMs a cancelled item keeps its id taken for the rest of the TTL; without, the id is free at once', async () => {
    const name = unique('ttl-cancel');
    const queue = await app<string>(name);
    await queue.enqueue('first', { id: 'u', idTtlMs: 60_000, delayMs: 60_000 });
    expect(await queue.cancel('u')).toBe('removed');
    const bull = inspect(name);
    expect(await bull.getJob('u')).toBeUndefined();
    expect(await queue.enqueue('second', { id: 'u' })).toBe('u');
    expect(await bull.getJob('u')).toBeUndefined(); // not added: the id is still taken
    expect(await raw.pttl(`bull:${name}:de:u`)).toBeGreaterThan(50_000);
    // without idTtlMs, a cancel frees the id at once
    await queue.enqueue('third', { id: 'v', delayMs: 60_000 });
    expect(await queue.cancel('v')).toBe('removed');
    expect(await queue.enqueue('fourth', { id: 'v', delayMs: 60_000 })).toBe('v');
    expect((await bull.getJob('v'))!.data).toBe('fourth');
  });

  it('enqueueMany is one addBulk: ids in order, options on every item, a duplicate id resolved to the queued item', async () => {
    const name = unique('many');
    const queue = await app<{ n: number }>(name);
    const bull = inspect(name);
    const addBulk = jest.spyOn(Queue.prototype, 'addBulk');
    const add = jest.spyOn(Queue.prototype, 'add');
    try {
      const ids = await queue.enqueueMany([{ n: 1 }, { n: 2 }, { n: 3 }], { priority: 4 });
      expect(addBulk).toHaveBeenCalledTimes(1);
      expect(add).not.toHaveBeenCalled();
      expect(new Set(ids).size).toBe(3);
      const jobs = await Promise.all(ids.map((id) => bull.getJob(id)));
      expect(jobs.map((job) => job!.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(jobs.map((job) => job!.opts.priority)).toEqual([4, 4, 4]);

      const keyed = await queue.enqueueMany([{ n: 1 }, { n: 2 }, { n: 1 }], { id: (item) => `n-${item.n}` });
      expect(keyed).toEqual(['n-1', 'n-2', 'n-1']);
      expect(addBulk).toHaveBeenCalledTimes(2);
      expect((await bull.getJobCounts('prioritized', 'wait')).wait).toBe(2);

      await expect(queue.enqueueMany([{ n: 5 }, { n: new Date() as unknown as number }])).rejects.toThrow(/items\[1\]\.n/);
      expect(addBulk).toHaveBeenCalledTimes(2); // refused before any round trip: nothing added
    } finally {
      addBulk.mockRestore();
      add.mockRestore();
    }
  });

  it('enqueueMany, cancel and the dead-letter calls are bounded by enqueueTimeoutMs when Redis does not answer', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const hung = new BullMqQueueBackend<number>({ queueName: unique('hung'), connection: { host: '127.0.0.1', port }, logger: new CaptureLogger(), enqueueTimeoutMs: 300 });
      backends.push(hung as BullMqQueueBackend<unknown>);
      const started = Date.now();
      const outcomes = await Promise.allSettled([hung.enqueueMany([1, 2], undefined, undefined), hung.cancel('x'), hung.deadLetters(0, 10), hung.redrive(), hung.discard()]);
      expect(Date.now() - started).toBeLessThan(5_000);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(QueueUnavailableError);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('tryEnqueue is not offered on BullMQ: a TypeError says to use enqueue', async () => {
    const name = unique('try');
    const queue = await app<string>(name);
    expect(() => queue.tryEnqueue('x')).toThrow(new TypeError(TRY_ENQUEUE_UNSUPPORTED(name, 'bullmq')));
  });

  it('removal: removeOnComplete and deadLetters counts are what the worker keeps; an item with an id is removed as it completes', async () => {
    const name = unique('removal');
    let done = 0;
    const queue = await app<number>(
      name,
      (item) => {
        done++;
        if (item % 2 === 1) throw new Error(`odd ${item}`);
      },
      { deadLetters: { count: 2 } },
      { removeOnComplete: { count: 3 } },
    );
    for (let item = 1; item <= 10; item++) await queue.enqueue(item);
    await queue.enqueue(12, { id: 'with-id' });
    await waitFor(() => done === 11);
    const bull = inspect(name);
    await until(async () => (await bull.getJobCounts('active')).active === 0, 'nothing active');
    expect(await bull.getJobCounts('completed', 'failed')).toEqual({ completed: 3, failed: 2 });
    expect(await bull.getJob('with-id')).toBeUndefined();
    expect((await bull.getFailed()).map((job) => job.data)).toEqual([9, 7]);
  });

  it('removal: removeOnComplete false keeps every finished job, deadLetters false keeps no failed one', async () => {
    const name = unique('removal-flags');
    let done = 0;
    const queue = await app<number>(
      name,
      (item) => {
        done++;
        if (item > 5) throw new Error('late');
      },
      { deadLetters: false },
      { removeOnComplete: false },
    );
    for (let item = 1; item <= 8; item++) await queue.enqueue(item);
    await waitFor(() => done === 8);
    const bull = inspect(name);
    await until(async () => (await bull.getJobCounts('active')).active === 0, 'nothing active');
    expect(await bull.getJobCounts('completed', 'failed')).toEqual({ completed: 5, failed: 0 });
  });

  it("removal options map onto BullMQ's: defaults { count: 1000 } / { count: 10000 }, ageMs in whole seconds rounded up", () => {
    expect(keepJobs(undefined, { count: 1000 })).toEqual({ count: 1000 });
    expect(keepJobs(true, { count: 1000 })).toEqual({ count: 0 });
    expect(keepJobs(false, { count: 1000 })).toBeUndefined(); // BullMQ keeps every one
    expect(keepJobs({ ageMs: 1_500 }, { count: 1000 })).toEqual({ age: 2 });
    expect(keepJobs({ count: 5, ageMs: 60_000 }, { count: 1000 })).toEqual({ age: 60, count: 5 });
  });

  it('refuses a bad removeOnComplete, naming the queue and the option', () => {
    expect(() => register('bad', {}, { removeOnComplete: { count: 0 } })).toThrow(/registerQueue\("bad"\).*backend\.removeOnComplete\.count/);
    expect(() => register('bad', {}, { removeOnComplete: 'yes' as unknown as boolean })).toThrow(/backend\.removeOnComplete.*true, false or \{ count, ageMs \}/);
    expect(() => register('bad', {}, { removeOnComplete: { cuont: 1 } as never })).toThrow(/did you mean "backend\.removeOnComplete\.count"/);
  });

  it('dead letters: listed newest first with their total; redrive puts them back with tries reset, same id and headers; discard deletes', async () => {
    const name = unique('dead');
    const queue = backend<string>(name);
    let failing = true;
    const runs: Array<{ id: string; item: string; attempt: number; headers: Record<string, string> }> = [];
    queue.startWorker(
      (item, ctx) => {
        runs.push({ id: ctx.id, item, attempt: ctx.attempt, headers: { ...ctx.headers } });
        if (failing) throw new TypeError(`boom ${item}`);
      },
      policy<string>({ attempts: 2 }),
    );
    const ids: string[] = [];
    for (const item of ['a', 'b', 'c']) ids.push(await queue.enqueue(item, undefined, { traceparent: `t-${item}` }));
    await waitFor(() => runs.length === 6, 15_000, 'two tries of each item');
    await until(async () => (await queue.deadLetters(0, 10)).total === 3, 'three dead letters');

    const page = await queue.deadLetters(0, 10);
    expect(page.items.map((d) => d.id)).toEqual([...ids].reverse());
    expect(page.items[0]).toMatchObject({ id: ids[2], data: 'c', attempts: 2, error: { name: 'TypeError', message: 'boom c' } });
    expect(page.items[0].error.stack).toMatch(/^TypeError: boom c/);
    expect(page.items[0].failedAt).toBeInstanceOf(Date);
    expect(await queue.deadLetters(1, 1)).toEqual({ total: 3, items: [expect.objectContaining({ id: ids[1] })] });
    await waitFor(() => queue.deadLetterCount() === 3, 5_000, 'the cached count refreshed');

    failing = false;
    expect(await queue.redrive(ids[0])).toBe(1);
    await waitFor(() => runs.length === 7);
    expect(runs[6]).toEqual({ id: ids[0], item: 'a', attempt: 1, headers: { traceparent: 't-a' } });
    expect(await queue.redrive(ids[0])).toBe(0); // no longer a dead letter
    expect(await queue.redrive('nope')).toBe(0);

    expect(await queue.discard(ids[1])).toBe(1);
    expect(await queue.discard(ids[1])).toBe(0);
    expect(await queue.deadLetters(0, 10)).toEqual({ total: 1, items: [expect.objectContaining({ id: ids[2] })] });

    failing = true;
    const more = [await queue.enqueue('d'), await queue.enqueue('e')];
    await until(async () => (await queue.deadLetters(0, 10)).total === 3, 'three dead letters again');
    failing = false;
    const before = runs.length;
    expect(await queue.redrive()).toBe(3);
    await waitFor(() => runs.length === before + 3, 15_000, 'the three redriven items run');
    expect(runs.slice(-3).every((r) => r.attempt === 1)).toBe(true);
    await until(async () => (await queue.deadLetters(0, 10)).total === 0, 'no dead letters');
    expect(runs.slice(-3).map((r) => r.id).sort()).toEqual([ids[2], ...more].sort());

    failing = true;
    await queue.enqueue('f');
    await queue.enqueue('g');
    await until(async () => (await queue.deadLetters(0, 10)).total === 2, 'two dead letters');
    expect(await queue.discard()).toBe(2);
    expect(await queue.deadLetters(0, 10)).toEqual({ total: 0, items: [] });
  });

  it('cancel: a waiting, a delayed and a retry-waiting item are removed and never run; unknown and finished ones are not found', async () => {
    const name = unique('cancel');
    const queue = backend<string>(name);
    const cancelled: string[] = [];
    const runs: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    queue.startWorker(
      async (item) => {
        runs.push(item);
        if (item === 'retry') throw new Error('once more, in a minute');
        if (item === 'block') await released; // holds the only lane: what is enqueued next waits
      },
      policy<string>({ attempts: 2, backoff: { type: 'fixed', delayMs: 60_000 }, onCancelled: (id) => cancelled.push(id) }),
    );
    const done = await queue.enqueue('done');
    const retry = await queue.enqueue('retry');
    await waitFor(() => runs.length === 2);
    const bull = inspect(name);
    await until(async () => (await bull.getJobState(retry)) === 'delayed', 'the retry waiting out its backoff');
    await queue.enqueue('block');
    await waitFor(() => runs.length === 3);
    const delayed = await queue.enqueue('delayed', undefined, undefined, { delayMs: 60_000 });
    const waiting = await queue.enqueue('waiting', undefined, undefined, { id: 'w-1' });

    expect(await queue.cancel(waiting)).toBe('removed');
    expect(await queue.cancel(delayed)).toBe('removed');
    expect(await queue.cancel(retry)).toBe('removed');
    expect(cancelled).toEqual([waiting, delayed, retry]);
    expect(await queue.cancel(waiting)).toBe('not-found');
    expect(await queue.cancel('unknown')).toBe('not-found');
    expect(await queue.cancel(done)).toBe('not-found'); // completed
    for (const id of [waiting, delayed, retry]) expect(await bull.getJob(id)).toBeUndefined();
    // a cancelled id is free again
    expect(await queue.enqueue('again', undefined, undefined, { id: 'w-1' })).toBe('w-1');
    expect(await bull.getJobState('w-1')).toBe('waiting');
    release();
    await waitFor(() => runs.includes('again'));
    expect(runs).toEqual(['done', 'retry', 'block', 'again']);
  });

  it('cancel of a running item aborts its signal with QueueItemCancelledError; it does not become a dead letter', async () => {
    const name = unique('cancel-running');
    let reason: unknown;
    const queue = await app<string>(name, async (_item, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      reason = ctx.signal.reason;
      throw reason;
    });
    const id = await queue.enqueue('long');
    const bull = inspect(name);
    await until(async () => (await bull.getJobState(id)) === 'active', 'the item running');
    expect(await queue.cancel(id)).toBe('aborted');
    await waitFor(() => reason !== undefined, 10_000, 'the abort');
    expect(reason).toBeInstanceOf(QueueItemCancelledError);
    await until(async () => (await bull.getJobState(id)) === 'unknown', 'the cancelled job gone');
    expect(await bull.getJobCounts('failed')).toEqual({ failed: 0 });
  });

  describe('two worker processes on one queue', () => {
    async function worker(queue: string, env: Record<string, string> = {}): Promise<ChildApp> {
      const child = spawnChildApp(fixture('bullmq-features-app.ts'), { env: { REDIS_URL: redis.url, QUEUE: queue, ...env } });
      children.push(child);
      await child.waitForOutput(/^READY \d+$/m);
      return child;
    }
    const count = (child: ChildApp, pattern: RegExp) => child.output().match(pattern)?.length ?? 0;

    it('both enqueue the same id at once: one job, run once, and every enqueue resolves with the id', async () => {
      const queue = unique('dedup-procs');
      const [a, b] = await Promise.all([worker(queue, { JOB_MS: '1000' }), worker(queue, { JOB_MS: '1000' })]);
      a.proc.stdin!.write('ENQUEUE same-1 20\n');
      b.proc.stdin!.write('ENQUEUE same-1 20\n');
      const [fromA, fromB] = await Promise.all([a.waitForOutput(/^ENQUEUED \d+ (\S+)$/m), b.waitForOutput(/^ENQUEUED \d+ (\S+)$/m)]);
      for (const ids of [fromA[1], fromB[1]]) expect(ids.split(',')).toEqual(Array.from({ length: 20 }, () => 'same-1'));
      await waitFor(() => /^DONE same-1 /m.test(a.output() + b.output()), 15_000, 'the item done');
      const bull = inspect(queue);
      await until(async () => (await bull.getJob('same-1')) === undefined, 'the job removed on completion');
      expect(Object.values(await bull.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed')).every((n) => n === 0)).toBe(true);
      expect(count(a, /^START /gm) + count(b, /^START /gm)).toBe(1);
      expect(a.output() + b.output()).not.toMatch(/UNHANDLED|FAILED/);
    });

    it('cancel in one process aborts the item running in the other', async () => {
      const queue = unique('cancel-procs');
      const [a, b] = await Promise.all([worker(queue, { JOB_MS: '60000' }), worker(queue, { JOB_MS: '60000' })]);
      a.proc.stdin!.write('ENQUEUE long-1 1\n');
      await waitFor(() => /^START long-1 /m.test(a.output() + b.output()), 15_000, 'the item started');
      const [runner, other] = /^START long-1 /m.test(a.output()) ? [a, b] : [b, a];
      other.proc.stdin!.write('CANCEL long-1\n');
      expect((await other.waitForOutput(/^CANCELLED long-1 (\S+) /m))[1]).toBe('aborted');
      await runner.waitForOutput(/^ABORTED long-1 QueueItemCancelledError /m, 15_000);
      const bull = inspect(queue);
      await until(async () => (await bull.getJobState('long-1')) === 'unknown', 'the cancelled job gone');
      expect(count(runner, /^START /gm) + count(other, /^START /gm)).toBe(1);
      expect(a.output() + b.output()).not.toMatch(/UNHANDLED|FAILED/);
    });
  });
});
