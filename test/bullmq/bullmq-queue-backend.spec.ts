/**
 * The BullMQ backend on a real redis-server, through the `QueueBackend` interface that the queue
 * layer uses: delivery, retries with BullMQ's own attempts/backoff, concurrency, intake closing,
 * shutdown (drain, deadline, force), crash recovery and Redis outages.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueClosedError } from '../../src/queues/errors/queue-closed.error.js';
import { BullMqQueueBackend, type BullMqQueueBackendOptions } from '../../src/queues/bullmq/bullmq-queue-backend.js';
import { QueueUnavailableError } from '../../src/queues/bullmq/queue-unavailable.error.js';
import type { JobProcessor, WorkerPolicy } from '../../src/queues/queue-backend.interface.js';

/** What the tests record of one delivery. */
interface DeliveredJob<T> {
  id: string;
  data: T;
  attempt: number;
}
import { REDIS_RECOVERED, REDIS_UNREACHABLE } from '../../src/distributed/redis.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { sleep, untilAborted, waitFor } from '../support/hosting-app.js';
import { trackUnhandledRejections } from './unhandled-rejections.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

let redis: RedisServerHandle;
let logger: CaptureLogger;
const backends: Array<BullMqQueueBackend<unknown>> = [];
let queueCounter = 0;
const uniqueQueue = (base: string) => `${base}-${process.pid}-${++queueCounter}`;

function backend<T>(queueName: string, extra: Partial<BullMqQueueBackendOptions> = {}): BullMqQueueBackend<T> {
  const created = new BullMqQueueBackend<T>({ queueName, connection: { host: redis.host, port: redis.port }, logger, ...extra });
  backends.push(created as BullMqQueueBackend<unknown>);
  return created;
}

function policy<T>(overrides: Partial<WorkerPolicy<T>> = {}): WorkerPolicy<T> & { failed: Array<{ job: DeliveredJob<T>; error: unknown }> } {
  const failed: Array<{ job: DeliveredJob<T>; error: unknown }> = [];
  return {
    concurrency: 1,
    attempts: 1,
    backoff: { type: 'fixed', delayMs: 0 },
    onAck: () => undefined,
    onNack: () => undefined,
    onFailed: (data, context, error) => failed.push({ job: { id: context.id, data, attempt: context.attempt }, error }),
    onCancelled: () => undefined,
    onRateLimited: () => undefined,
    ...overrides,
    failed,
  };
}

/** A processor that records deliveries and runs `body` for each. */
function recorder<T>(body: (job: DeliveredJob<T>, signal: AbortSignal) => Promise<void> | void = () => undefined) {
  const seen: Array<DeliveredJob<T> & { at: number }> = [];
  const process: JobProcessor<T> = async (data, context) => {
    const job = { id: context.id, data, attempt: context.attempt };
    seen.push({ ...job, at: Date.now() });
    await body(job, context.signal);
  };
  return { seen, process };
}

const never = new AbortController().signal;

/** Retries `attempt` until it resolves (a client reconnecting takes a few tries). */
async function eventually<R>(attempt: () => Promise<R>, timeoutMs = 15_000): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

beforeEach(() => {
  logger = new CaptureLogger();
});

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.dispose()));
});

describe('BullMqQueueBackend', () => {
  it('adds items and delivers each once, in order, with its BullMQ job id and attempt 1', async () => {
    const queue = backend<{ n: number }>(uniqueQueue('order'));
    const { seen, process } = recorder<{ n: number }>();
    queue.startWorker(process, policy());
    const ids: string[] = [];
    for (let n = 1; n <= 10; n++) ids.push(await queue.enqueue({ n }));
    await waitFor(() => seen.length === 10);
    expect(seen.map((j) => j.data.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seen.map((j) => j.id)).toEqual(ids);
    expect(seen.every((j) => j.attempt === 1)).toBe(true);
    expect(await queue.stop(never)).toEqual({ undelivered: 0 });
  });

  it("retries with BullMQ's attempts and backoff, then calls onFailed once with the last try", async () => {
    const queue = backend<string>(uniqueQueue('retry'));
    const { seen, process } = recorder<string>(() => {
      throw new Error('always fails');
    });
    const worker = policy<string>({ attempts: 3, backoff: { type: 'exponential', delayMs: 100 } });
    queue.startWorker(process, worker);
    const id = await queue.enqueue('x');
    await waitFor(() => worker.failed.length === 1);
    expect(seen.map((j) => j.attempt)).toEqual([1, 2, 3]);
    // exponential: 100 ms before the 2nd try, 200 ms before the 3rd
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(90);
    expect(seen[2].at - seen[1].at).toBeGreaterThanOrEqual(190);
    expect(worker.failed).toEqual([{ job: { id, data: 'x', attempt: 3 }, error: expect.objectContaining({ message: 'always fails' }) }]);
    await sleep(200);
    expect(worker.failed).toHaveLength(1);
  });

  it("applies the worker's attempts to jobs added by a process that has no worker", async () => {
    const name = uniqueQueue('producer-only');
    const producer = backend<string>(name);
    const consumer = backend<string>(name);
    let tries = 0;
    const worker = policy<string>({ attempts: 2 });
    consumer.startWorker(async () => {
      tries++;
      throw new Error('nope');
    }, worker);
    await producer.enqueue('from the web process');
    await waitFor(() => worker.failed.length === 1);
    expect(tries).toBe(2);
    expect(await producer.stop(never)).toEqual({ undelivered: 0 }); // a producer reports nothing
  });

  it("holds a one-try worker to one try of a job whose producer asked for more", async () => {
    const name = uniqueQueue('more-tries-than-policy');
    const consumer = backend<string>(name);
    let tries = 0;
    const worker = policy<string>({ attempts: 1 });
    consumer.startWorker(async () => {
      tries++;
      throw new Error('nope');
    }, worker);
    // A producer that is not this library: raw BullMQ, asking for three tries.
    const raw = new Queue(name, { connection: { host: redis.host, port: redis.port } });
    try {
      await raw.add(name, 'three tries asked', { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      await waitFor(() => worker.failed.length === 1);
      await sleep(300); // a retry would come 10 ms after the failure
      expect(tries).toBe(1);
      expect(worker.failed).toEqual([{ job: expect.objectContaining({ attempt: 1 }), error: expect.objectContaining({ message: 'nope' }) }]);
    } finally {
      await raw.close();
    }
  });

  it("works on the app's own ioredis instance (ioredis defaults), and leaves it open", async () => {
    const client = new Redis(redis.port, redis.host);
    try {
      const queue = backend<string>(uniqueQueue('instance'), { connection: client });
      const { seen, process } = recorder<string>();
      queue.startWorker(process, policy());
      await queue.enqueue('via the app client');
      await waitFor(() => seen.length === 1);
      await queue.stop(never);
      await queue.dispose();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('runs at most `concurrency` handlers at once, and reaches it', async () => {
    const queue = backend<number>(uniqueQueue('concurrency'));
    let running = 0;
    let max = 0;
    const { seen, process } = recorder<number>(async () => {
      running++;
      max = Math.max(max, running);
      await sleep(50);
      running--;
    });
    queue.startWorker(process, policy({ concurrency: 4 }));
    for (let i = 0; i < 16; i++) await queue.enqueue(i);
    await waitFor(() => seen.length === 16 && running === 0);
    expect(max).toBe(4);
  });

  it('counts items waiting and items in flight, synchronously', async () => {
    const queue = backend<number>(uniqueQueue('counts'));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { seen, process } = recorder<number>(() => gate);
    queue.startWorker(process, policy());
    for (let i = 0; i < 4; i++) await queue.enqueue(i);
    await waitFor(() => seen.length === 1);
    await waitFor(() => queue.counts().depth === 3, 5_000, 'depth 3');
    expect(queue.counts()).toEqual({ depth: 3, inFlight: 1 });
    release();
    await waitFor(() => seen.length === 4);
    await waitFor(() => queue.counts().depth === 0 && queue.counts().inFlight === 0, 5_000, 'empty counts');
  });

  it('pauses and resumes delivery', async () => {
    const queue = backend<number>(uniqueQueue('pause'));
    const { seen, process } = recorder<number>();
    queue.startWorker(process, policy());
    await queue.enqueue(1);
    await waitFor(() => seen.length === 1);
    queue.pause();
    await sleep(100);
    await queue.enqueue(2);
    await sleep(300);
    expect(seen).toHaveLength(1);
    queue.resume();
    await waitFor(() => seen.length === 2);
  });

  describe('when the host stops', () => {
    it('closeIntake makes enqueue reject with QueueClosedError', async () => {
      const name = uniqueQueue('intake');
      const queue = backend<number>(name);
      await queue.enqueue(1);
      queue.closeIntake();
      await expect(queue.enqueue(2)).rejects.toBeInstanceOf(QueueClosedError);
      await expect(queue.enqueue(2)).rejects.toThrow(new QueueClosedError(name).message);
    });

    it('lets running items finish, leaves queued ones in Redis for the next worker, and reports them', async () => {
      const name = uniqueQueue('drain');
      const first = backend<number>(name);
      const { seen, process } = recorder<number>(() => sleep(200));
      first.startWorker(process, policy());
      for (let i = 0; i < 5; i++) await first.enqueue(i);
      await waitFor(() => seen.length === 1);
      const started = Date.now();
      const result = await first.stop(never);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100); // it waited for the running item
      expect(seen.map((j) => j.data)).toEqual([0]);
      expect(result).toEqual({ undelivered: 4 });
      expect(first.counts().inFlight).toBe(0);

      const next = backend<number>(name);
      const after = recorder<number>();
      next.startWorker(after.process, policy());
      await waitFor(() => after.seen.length === 4);
      expect(after.seen.map((j) => j.data)).toEqual([1, 2, 3, 4]);
    });

    it('at the deadline aborts the running handler and puts its job back at the front, the try not counted', async () => {
      const name = uniqueQueue('deadline');
      const first = backend<string>(name);
      const worker = policy<string>({ attempts: 1 });
      const { seen, process } = recorder<string>(async (_job, signal) => {
        await untilAborted(signal);
        throw signal.reason;
      });
      first.startWorker(process, worker);
      await first.enqueue('long');
      await first.enqueue('queued');
      await waitFor(() => seen.length === 1);
      const deadline = new AbortController();
      setTimeout(() => deadline.abort(), 100);
      expect(await first.stop(deadline.signal)).toEqual({ undelivered: 2 });
      expect(worker.failed).toEqual([]); // not a failure: the job was handed back

      const next = backend<string>(name);
      const after = recorder<string>();
      next.startWorker(after.process, policy());
      await waitFor(() => after.seen.length === 2);
      expect(after.seen.map((j) => [j.data, j.attempt])).toEqual([
        ['long', 1],
        ['queued', 1],
      ]);
    });

    it('a handler that ignores the deadline: dispose cuts the worker off, and another worker recovers the job once its lock lapses', async () => {
      const name = uniqueQueue('stalled');
      const timings = { lockDurationMs: 1_000, stalledIntervalMs: 300 };
      const stuck = backend<string>(name, timings);
      const { seen, process } = recorder<string>(() => new Promise<never>(() => undefined));
      stuck.startWorker(process, policy());
      const id = await stuck.enqueue('stuck');
      await waitFor(() => seen.length === 1);
      const deadline = new AbortController();
      deadline.abort();
      void stuck.stop(deadline.signal); // never settles: the handler never returns
      await stuck.dispose();

      const rescuer = backend<string>(name, timings);
      const after = recorder<string>();
      rescuer.startWorker(after.process, policy());
      await waitFor(() => after.seen.length === 1, 15_000, 'stalled job recovered');
      expect(after.seen[0]).toMatchObject({ id, data: 'stuck', attempt: 1 });
    });
  });

  describe('when Redis goes away', () => {
    let outage: RedisServerHandle;
    beforeEach(async () => {
      outage = await startRedisServer();
    });
    afterEach(async () => {
      await Promise.all(backends.splice(0).map((b) => b.dispose()));
      await outage.stop();
    });

    const onOutage = <T>(name: string) =>
      backend<T>(name, { connection: { host: outage.host, port: outage.port } } as Partial<BullMqQueueBackendOptions>);

    it('logs the outage once per connection, rejects enqueue with QueueUnavailableError meanwhile, and recovers when Redis is back', async () => {
      const unhandled = trackUnhandledRejections();
      try {
        const name = uniqueQueue('outage');
        const queue = onOutage<number>(name);
        const { seen, process } = recorder<number>();
        queue.startWorker(process, policy());
        await queue.enqueue(1);
        await waitFor(() => seen.length === 1);
        await waitFor(() => queue.connections().every((c) => c.state === 'up'), 10_000, 'both connections up');

        await outage.stop();
        await sleep(2_500); // several reconnect attempts, several failed count refreshes
        await expect(queue.enqueue(2)).rejects.toBeInstanceOf(QueueUnavailableError);
        const [before, after] = REDIS_UNREACHABLE('<subject>', new Error('<reason>')).split('<reason>');
        for (const connection of ['producer', 'worker']) {
          const subject = `Queue "${name}" (bullmq) ${connection}`;
          const down = logger.errors().filter((e) => e.message.startsWith(`${subject}: Redis is unreachable`));
          expect(down).toHaveLength(1);
          expect(down[0].message.startsWith(before.replace('<subject>', subject)) && down[0].message.endsWith(after)).toBe(true);
        }
        expect(logger.errors()).toHaveLength(2); // nothing else: no flood, no stray errors
        expect(queue.connections().map((c) => [c.name, c.state])).toEqual([
          ['producer', 'down'],
          ['worker', 'down'],
        ]);

        await outage.start();
        for (const connection of ['producer', 'worker']) {
          const recovered = REDIS_RECOVERED(`Queue "${name}" (bullmq) ${connection}`, 0).replace(/ 0 ms$/, '');
          await waitFor(() => logger.entries.some((e) => e.level === 'log' && e.message.startsWith(recovered)), 15_000, `${connection} recovery logged`);
        }
        await eventually(() => queue.enqueue(3));
        await waitFor(() => seen.some((j) => j.data === 3), 15_000, 'delivery resumed');
        expect(unhandled.rejections).toEqual([]);
      } finally {
        unhandled.dispose();
      }
    });

    it('starts while Redis is down: the worker waits, then delivers once Redis is up, without unhandled rejections', async () => {
      const unhandled = trackUnhandledRejections();
      try {
        await outage.stop();
        const name = uniqueQueue('late-redis');
        const queue = onOutage<number>(name);
        const { seen, process } = recorder<number>();
        queue.startWorker(process, policy());
        const pending = queue.enqueue(7); // waits for the first connection, up to enqueueTimeoutMs (5 s)
        await sleep(1_500);
        const down = logger.errors().filter((e) => e.message.includes('Redis is unreachable'));
        expect(down.map((e) => e.message.slice(0, e.message.indexOf(':'))).sort()).toEqual([
          `Queue "${name}" (bullmq) producer`,
          `Queue "${name}" (bullmq) worker`,
        ]);
        await outage.start();
        await expect(pending).resolves.toEqual(expect.any(String));
        await waitFor(() => seen.length === 1, 15_000, 'delivered after Redis came up');
        expect(seen[0].data).toBe(7);
        expect(unhandled.rejections).toEqual([]);
      } finally {
        unhandled.dispose();
      }
    });

    it('stops and disposes promptly while Redis is down', async () => {
      const name = uniqueQueue('down-at-stop');
      const queue = onOutage<number>(name);
      const { seen, process } = recorder<number>();
      queue.startWorker(process, policy());
      await queue.enqueue(1);
      await waitFor(() => seen.length === 1);
      await outage.stop();
      await sleep(500);
      const started = Date.now();
      await queue.stop(never);
      await queue.dispose();
      expect(Date.now() - started).toBeLessThan(3_000);
    });
  });
});
