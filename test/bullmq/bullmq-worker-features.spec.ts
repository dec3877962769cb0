/**
 * The worker side of issue 14 across processes on BullMQ (real redis-server, worker apps as child
 * processes: test/fixtures/bullmq-features-worker-app.ts; this process is a producer-only app):
 * the limiter and RateLimitedError hold every process, cancel reaches the process that runs the
 * item, events of another process's work reach a subscriber here, and progress is BullMQ's own.
 */
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { HostingModule, HostingRegistry, InjectQueue, QueueItemCancelledError, QueueWorker, type JobContext, type QueueEvent, type WorkQueue } from '../../src/index.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { sleep, startHostingApp, waitFor, waitForAsync, type HostingApp } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

interface Item {
  kind: 'quick' | 'limit' | 'wait' | 'fail' | 'progress' | 'hang';
  until?: number;
}

let redis: RedisServerHandle;
const children: ChildApp[] = [];
const apps: HostingApp[] = [];
const queues: Queue[] = [];
let counter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.dispose()));
  await Promise.all(apps.splice(0).map(({ app }) => app.close()));
  await Promise.all(queues.splice(0).map((q) => q.close()));
});

const uniqueName = (base: string) => `${base}-${process.pid}-${++counter}`;

async function worker(queue: string, env: Record<string, string> = {}): Promise<ChildApp> {
  const child = spawnChildApp(fixture('bullmq-features-worker-app.ts'), { env: { REDIS_URL: redis.url, QUEUE: queue, ...env } });
  children.push(child);
  await child.waitForOutput(/^READY \d+$/m);
  return child;
}

/** An app on `queue` in this process (producer only, unless `workers` are given): its WorkQueue and registry. */
async function producer(queue: string, workers: Array<new (...args: never[]) => unknown> = []): Promise<{ queue: WorkQueue<Item>; registry: HostingRegistry }> {
  @Injectable()
  class Producer {
    constructor(@InjectQueue(queue) readonly queue: WorkQueue<Item>) {}
  }
  const started = await startHostingApp({
    hosting: { redis: redis.url },
    imports: [HostingModule.registerQueue({ name: queue, backend: 'bullmq' })],
    providers: [Producer, ...workers],
  });
  apps.push(started);
  return { queue: started.app.get(Producer).queue, registry: started.app.get(HostingRegistry) };
}

function bullQueue(name: string): Queue {
  const queue = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  queues.push(queue);
  return queue;
}

interface Line {
  verb: string;
  id: string;
  kind: string;
  attempt: number;
  pid: number;
  at: number;
}
/** The START / DONE lines every child printed, in time order. */
function lines(verb: 'START' | 'DONE', ...from: ChildApp[]): Line[] {
  const pattern = verb === 'START' ? /^START (\S+) (\S+) (\d+) (\d+) (\d+)$/gm : /^DONE (\S+) (\S+) (\d+) (\d+)$/gm;
  return from
    .flatMap((child) =>
      [...child.output().matchAll(pattern)].map((m) =>
        verb === 'START'
          ? { verb, id: m[1], kind: m[2], attempt: Number(m[3]), pid: Number(m[4]), at: Number(m[5]) }
          : { verb, id: m[1], kind: m[2], attempt: 0, pid: Number(m[3]), at: Number(m[4]) },
      ),
    )
    .sort((a, b) => a.at - b.at);
}

describe('BullMQ worker features across processes', () => {
  it('the limiter holds across two worker processes: at most max starts per window in all, both taking part', async () => {
    const name = uniqueName('limiter');
    const env = { CONCURRENCY: '4', LIMIT_MAX: '2', LIMIT_MS: '600', JOB_MS: '10' };
    const [a, b] = await Promise.all([worker(name, env), worker(name, env)]);
    const { queue } = await producer(name);
    await queue.enqueueMany(Array.from({ length: 12 }, () => ({ kind: 'quick' as const })));
    await waitFor(() => lines('DONE', a, b).length === 12, 30_000, 'twelve items done');
    const at = lines('START', a, b).map((line) => line.at);
    expect(at).toHaveLength(12);
    // Fixed windows of 600 ms with at most 2 starts each, whatever process: any 5 starts span 3
    // windows, so one whole window lies between the first and the fifth. Per-process limits would
    // let two processes start 4 in one window.
    for (let i = 0; i + 4 < at.length; i++) expect(at[i + 4] - at[i]).toBeGreaterThanOrEqual(580);
    expect(lines('START', a).length).toBeGreaterThan(0);
    expect(lines('START', b).length).toBeGreaterThan(0);
    expect(a.output() + b.output()).not.toMatch(/UNHANDLED/);
  });

  it('RateLimitedError in one process holds both for retryAfterMs; the item comes back with the same attempt', async () => {
    const name = uniqueName('rate-limited');
    const env = { CONCURRENCY: '1', ATTEMPTS: '1', RETRY_MS: '1500', JOB_MS: '10' };
    const [a, b] = await Promise.all([worker(name, env), worker(name, env)]);
    const { queue } = await producer(name);
    // Limited while it runs within a second from now: once, or again when the pause ends first.
    const limitedId = await queue.enqueue({ kind: 'limit', until: Date.now() + 1_000 });
    await Promise.race([a.waitForOutput(/^LIMITED /m), b.waitForOutput(/^LIMITED /m)]);
    // The pause is a key in Redis with the retry's expiry: from when it is set, to when it lapses.
    const bull = bullQueue(name);
    let ttl = await bull.getRateLimitTtl(Number.MAX_SAFE_INTEGER);
    while (ttl <= 0) {
      await sleep(5);
      ttl = await bull.getRateLimitTtl(Number.MAX_SAFE_INTEGER);
    }
    const pauseEnds = Date.now() + ttl;
    expect(ttl).toBeGreaterThan(1_000);
    // Both processes are idle now; neither may start these before the pause ends.
    for (let i = 0; i < 4; i++) await queue.enqueue({ kind: 'quick' });
    await waitFor(() => lines('DONE', a, b).length === 5, 30_000, 'five items done');
    const starts = lines('START', a, b);
    const quick = starts.filter((line) => line.kind === 'quick');
    expect(quick).toHaveLength(4);
    for (const line of quick) expect(line.at).toBeGreaterThanOrEqual(pauseEnds - 50);
    // Its tries are not used up (ATTEMPTS 1): the same attempt number every time, and it completed.
    const ofLimited = starts.filter((line) => line.id === limitedId);
    expect(ofLimited.length).toBeGreaterThanOrEqual(2);
    for (const line of ofLimited) expect(line.attempt).toBe(1);
    expect(ofLimited[1].at).toBeGreaterThanOrEqual(pauseEnds - 50);
    expect(lines('DONE', a, b).map((line) => line.id)).toContain(limitedId);
    expect(a.output() + b.output()).not.toMatch(/UNHANDLED/);
    // Workers without a limiter of their own fetch under a queue-wide limit only around the pause.
    await waitForAsync(async () => (await bull.getGlobalRateLimit()) === null, 10_000, 'the queue-wide limit lifted after the pause');
  });

  it('a queue-wide limit a process left mid-pause is lifted when a worker starts; a limit the app set stays', async () => {
    const name = uniqueName('stale-pause');
    const bull = bullQueue(name);
    await bull.setGlobalRateLimit(2 ** 31 - 1, 1_000); // what a pause sets, left by a process that died in it
    const first = await worker(name, { CONCURRENCY: '1' });
    await waitForAsync(async () => (await bull.getGlobalRateLimit()) === null, 10_000, 'the stale limit lifted');
    await first.dispose();
    await bull.setGlobalRateLimit(5, 1_000); // the app's own
    const second = await worker(name, { CONCURRENCY: '1' });
    const { queue } = await producer(name);
    await queue.enqueue({ kind: 'quick' });
    await waitFor(() => lines('DONE', second).length === 1, 30_000, 'the item done');
    expect(await bull.getGlobalRateLimit()).toEqual({ max: 5, duration: 1_000 });
  });

  it('cancel(id) here of an item running in another process: its signal aborts there, it is not retried and not a dead letter', async () => {
    const name = uniqueName('cancel');
    const child = await worker(name, { ATTEMPTS: '3', BACKOFF_MS: '20' });
    const { queue } = await producer(name);
    const id = await queue.enqueue({ kind: 'wait' });
    await child.waitForOutput(new RegExp(`^START ${id} wait 1 `, 'm'));
    await expect(queue.cancel(id)).resolves.toBe('aborted');
    await child.waitForOutput(new RegExp(`^ABORTED ${id} QueueItemCancelledError \\d+$`, 'm'), 15_000);
    const bull = bullQueue(name);
    // The failed try is removed as it fails: no job left, none in the failed set, no retry.
    for (let i = 0; i < 100 && (await bull.getJob(id)) !== undefined; i++) await sleep(50);
    expect(await bull.getJob(id)).toBeUndefined();
    expect(await bull.getFailedCount()).toBe(0);
    await sleep(300); // a retry (20 ms backoff) would have started by now
    expect(lines('START', child).map((line) => line.id)).toEqual([id]);
    // The id is free again.
    await expect(queue.cancel(id)).resolves.toBe('not-found');
    expect(child.output()).not.toMatch(/UNHANDLED/);
  });

  it('a worker takes no item before it hears cancels: a cancel from another process just after the item started aborts it, even when the subscription is slow', async () => {
    const name = uniqueName('cancel-window');
    /** An ioredis instance whose duplicates (the cancel subscriber is one) SUBSCRIBE 1.5 s late: a slow subscription, made wide. */
    class SlowSubscribe extends Redis {
      override duplicate(override?: Partial<RedisOptions>): Redis {
        const copy = super.duplicate(override);
        const subscribe = copy.subscribe.bind(copy) as (...channels: string[]) => Promise<unknown>;
        (copy as { subscribe: unknown }).subscribe = async (...channels: string[]) => {
          await sleep(1_500);
          return subscribe(...channels);
        };
        return copy;
      }
    }
    const connection = new SlowSubscribe({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });
    const { queue } = await producer(name); // the producer-only app: its cancel is published, not local
    const id = await queue.enqueue({ kind: 'wait' }); // waiting before the worker comes up
    const started: string[] = [];
    const aborted: unknown[] = [];
    @Injectable()
    class Worker {
      @QueueWorker(name)
      async handle(_item: Item, ctx: JobContext) {
        started.push(ctx.id);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 8_000); // not cancelled: it completes
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            aborted.push(ctx.signal.reason);
            resolve();
          });
        });
        ctx.signal.throwIfAborted();
      }
    }
    const workerApp = await startHostingApp({
      hosting: { redis: connection },
      imports: [HostingModule.registerQueue({ name, backend: 'bullmq' })],
      providers: [Worker],
    });
    apps.push(workerApp);
    try {
      await waitFor(() => started.length === 1, 15_000, 'the item to start');
      await expect(queue.cancel(id)).resolves.toBe('aborted');
      // Without the wait for the subscription, the item started before it and the cancel reached no one.
      await waitFor(() => aborted.length === 1, 6_000, 'the running item to see the cancel');
      expect(aborted[0]).toBeInstanceOf(QueueItemCancelledError);
    } finally {
      await workerApp.app.close();
      apps.splice(apps.indexOf(workerApp), 1);
      connection.disconnect();
    }
  });

  it("events of another process's work reach a subscriber here: completed, failed (retried, then last), deadLettered, stalled", async () => {
    const name = uniqueName('events');
    const rescuer = await worker(name, { ATTEMPTS: '2', BACKOFF_MS: '50', LOCK_MS: '1000', STALLED_MS: '300' });
    const { queue, registry } = await producer(name);
    const events: QueueEvent[] = [];
    registry.onQueueEvent(name, '*', (event) => events.push(event));
    // Let the subscription's connection come up (new events only are read).
    await waitFor(() => registry.get(name)?.connections?.find((c) => c.name === 'events')?.state === 'up', 15_000, 'the events connection');

    const okId = await queue.enqueue({ kind: 'quick' });
    await waitFor(() => events.some((e) => e.name === 'completed' && e.id === okId), 15_000, 'completed');

    const failId = await queue.enqueue({ kind: 'fail' });
    await waitFor(() => events.some((e) => e.name === 'deadLettered' && e.id === failId), 15_000, 'deadLettered');
    const ofFail = events.filter((e) => e.id === failId);
    expect(ofFail.map((e) => [e.name, e.attempt, e.willRetry, e.error])).toEqual([
      ['failed', 1, true, 'boom 1'],
      ['failed', 2, false, 'boom 2'],
      ['deadLettered', 2, undefined, 'boom 2'],
    ]);
    for (const event of ofFail) expect(event).toMatchObject({ queue: name, at: expect.any(Date) });

    // A process dies mid-item: once its claim lapses the item is stalled, and the rescuer runs it.
    const doomed = await worker(name, { HANG: '1', LOCK_MS: '1000', STALLED_MS: '300' });
    await rescuer.dispose(); // the doomed process must take the next item
    children.splice(children.indexOf(rescuer), 1);
    const hangId = await queue.enqueue({ kind: 'hang' });
    await doomed.waitForOutput(new RegExp(`^START ${hangId} hang `, 'm'));
    doomed.kill('SIGKILL');
    await doomed.exited;
    const second = await worker(name, { LOCK_MS: '1000', STALLED_MS: '300' });
    await waitFor(() => events.some((e) => e.name === 'stalled' && e.id === hangId), 20_000, 'stalled');
    await waitFor(() => events.some((e) => e.name === 'completed' && e.id === hangId), 20_000, 'the stalled item completed by another process');
    await waitFor(() => events.some((e) => e.name === 'drained'), 15_000, 'drained');
    expect(second.output()).not.toMatch(/UNHANDLED/);
  });

  it("status.rateLimitedUntil shows the limiter's full window, as Redis keeps it", async () => {
    const name = uniqueName('limited-status');
    const started: number[] = [];
    @Injectable()
    class Worker {
      @QueueWorker(name, { limiter: { max: 1, durationMs: 4_000 } })
      handle(item: Item) {
        void item;
        started.push(Date.now());
      }
    }
    const { queue, registry } = await producer(name, [Worker]);
    expect(registry.get(name)?.rateLimitedUntil).toBeUndefined();
    await queue.enqueueMany([{ kind: 'quick' }, { kind: 'quick' }]);
    await waitFor(() => started.length === 1, 15_000, 'the first item');
    // Refreshed with the counts (every second): the window that started with the first item.
    await waitFor(() => registry.get(name)?.rateLimitedUntil !== undefined, 5_000, 'rateLimitedUntil');
    const until = registry.get(name)!.rateLimitedUntil!.getTime();
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThanOrEqual(started[0] + 4_100);
    await waitFor(() => started.length === 2, 15_000, 'the second item, in the next window');
    expect(started[1]).toBeGreaterThanOrEqual(until - 50);
  });

  it("an idle queue does not read the limiter's window; it does once items wait (one store call a second, not two, while idle)", async () => {
    const name = uniqueName('limited-idle');
    const started: number[] = [];
    @Injectable()
    class Worker {
      @QueueWorker(name, { limiter: { max: 1, durationMs: 3_000 } })
      handle() {
        started.push(Date.now());
      }
    }
    // Every command Redis runs, as MONITOR shows it: BullMQ's getRateLimitTtl script is the EVALSHA
    // with two keys, the queue's limiter and meta keys.
    const client = new Redis({ host: redis.host, port: redis.port });
    const monitor = await client.monitor();
    const windowReads: number[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'evalsha' && args[2] === '2' && args[3]?.endsWith(`${name}:limiter`) && args[4]?.endsWith(`${name}:meta`)) windowReads.push(Date.now());
    });
    try {
      const { queue, registry } = await producer(name, [Worker]);
      await waitFor(() => registry.get(name)?.connections?.every((c) => c.state === 'up') === true, 15_000, 'the connections up');
      await sleep(2_500); // two refreshes of the counts or more
      expect(windowReads).toEqual([]);
      await queue.enqueueMany([{ kind: 'quick' }, { kind: 'quick' }]);
      await waitFor(() => started.length === 1, 15_000, 'the first item');
      // The second waits for the next window: now the refresh reads it.
      await waitFor(() => windowReads.length > 0, 5_000, "a read of the limiter's window");
      await waitFor(() => registry.get(name)?.rateLimitedUntil !== undefined, 5_000, 'rateLimitedUntil');
      await waitFor(() => started.length === 2, 15_000, 'the second item');
    } finally {
      monitor.disconnect();
      client.disconnect();
    }
  });

  it("progress reported by a worker in another process is the BullMQ job's progress", async () => {
    const name = uniqueName('progress');
    const child = await worker(name, { JOB_MS: '200' });
    const { queue } = await producer(name);
    const bull = bullQueue(name);
    const id = await queue.enqueue({ kind: 'progress' });
    const seen: unknown[] = [];
    // Polled in Redis while the item runs (50 for 200 ms, then 75 for 200 ms).
    while (lines('DONE', child).length === 0 && !seen.includes(50)) {
      seen.push((await bull.getJob(id))?.progress);
      await sleep(20);
    }
    await waitFor(() => lines('DONE', child).length === 1, 15_000, 'the item done');
    expect(seen).toContain(50);
    expect((await bull.getJob(id))?.progress).toBe(75);
  });
});
