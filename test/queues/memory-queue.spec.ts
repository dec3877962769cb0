import { Injectable } from '@nestjs/common';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueFullError,
  QueueWorker,
  type JobContext,
  type QueueFullMode,
  type WorkQueue,
} from '../../src/index.js';
import { INVALID_QUEUE_OPTION, INVALID_OPTION, QUEUE_LANE_FAILED, QUEUE_UNDELIVERED, SHUTDOWN_ABANDONED } from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { compileHostingApp, sleep, startHostingApp, waitFor } from '../support/hosting-app.js';
import { describeWorkQueueBehaviour } from './work-queue.behaviour.js';

let counter = 0;
describeWorkQueueBehaviour('memory', () => ({
  queueOptions: () => ({}),
  hostingOptions: () => ({}),
  uniqueName: (base) => `${base}-${++counter}`,
}));

/** A worker that holds each item until the test releases it. */
function gatedApp(fullMode: QueueFullMode | undefined, capacity: number | undefined) {
  const dropped: Array<{ item: number; reason: string }> = [];
  const handled: number[] = [];
  const gates: Array<() => void> = [];
  @Injectable()
  class Producer {
    constructor(@InjectQueue('jobs') readonly queue: WorkQueue<number>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker('jobs')
    async handle(item: number) {
      await new Promise<void>((resolve) => gates.push(resolve));
      handled.push(item);
    }
  }
  const releaseAll = async (count: number) => {
    while (handled.length < count) {
      for (const open of gates.splice(0)) open();
      await new Promise<void>((resolve) => setImmediate(resolve)); // one turn: no real time is needed, only the promise chains
    }
  };
  return {
    dropped,
    handled,
    releaseAll,
    start: () =>
      startHostingApp({
        imports: [HostingModule.registerQueue({ name: 'jobs', capacity, fullMode, onDropped: (item, reason) => dropped.push({ item: item as number, reason }) })],
        providers: [Producer, Worker],
      }).then((h) => ({ ...h, producer: h.app.get(Producer).queue })),
  };
}

describe('memory backend: a producer that outruns the consumer', () => {
  it("fullMode 'wait' holds the producer back until there is room, and nothing is lost", async () => {
    const t = gatedApp('wait', 2);
    const { app, producer } = await t.start();
    await producer.enqueue(1); // taken by the worker at once
    await producer.enqueue(2);
    await producer.enqueue(3); // the queue is now full
    let fourAccepted = false;
    const four = producer.enqueue(4).then(() => (fourAccepted = true));
    await sleep(50);
    expect(fourAccepted).toBe(false);
    expect(producer.depth).toBe(2);
    await t.releaseAll(1); // item 1 done, 2 taken: room for 4
    await four;
    expect(fourAccepted).toBe(true);
    await t.releaseAll(4);
    expect(t.handled).toEqual([1, 2, 3, 4]);
    expect(t.dropped).toEqual([]);
    await app.close();
  });

  it("fullMode 'wait': enqueue honours its signal while it waits", async () => {
    const t = gatedApp('wait', 1);
    const { app, producer } = await t.start();
    await producer.enqueue(1);
    await producer.enqueue(2);
    const controller = new AbortController();
    const waiting = producer.enqueue(3, { signal: controller.signal });
    controller.abort(new Error('client went away'));
    await expect(waiting).rejects.toThrow('client went away');
    await t.releaseAll(2);
    expect(t.handled).toEqual([1, 2]);
    await app.close();
  });

  it("fullMode 'dropOldest' evicts the oldest waiting item and reports it to onDropped", async () => {
    const t = gatedApp('dropOldest', 2);
    const { app, producer } = await t.start();
    for (let i = 1; i <= 6; i++) await producer.enqueue(i);
    await t.releaseAll(3);
    expect(t.handled).toEqual([1, 5, 6]);
    expect(t.dropped).toEqual([2, 3, 4].map((item) => ({ item, reason: 'dropOldest' })));
    await app.close();
  });

  it("fullMode 'dropNewest' evicts the newest waiting item and reports it to onDropped", async () => {
    const t = gatedApp('dropNewest', 2);
    const { app, producer } = await t.start();
    for (let i = 1; i <= 6; i++) await producer.enqueue(i);
    await t.releaseAll(3);
    expect(t.handled).toEqual([1, 2, 6]);
    expect(t.dropped).toEqual([3, 4, 5].map((item) => ({ item, reason: 'dropNewest' })));
    await app.close();
  });

  it("fullMode 'reject' rejects with QueueFullError", async () => {
    const t = gatedApp('reject', 2);
    const { app, producer } = await t.start();
    for (let i = 1; i <= 3; i++) await producer.enqueue(i);
    const error = await producer.enqueue(4).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toContain('"jobs"');
    await t.releaseAll(3);
    expect(t.handled).toEqual([1, 2, 3]);
    await app.close();
  });

  it('without capacity the queue is unbounded', async () => {
    const t = gatedApp(undefined, undefined);
    const { app, producer } = await t.start();
    for (let i = 1; i <= 5_000; i++) await producer.enqueue(i);
    expect(producer.depth).toBe(4_999);
    await t.releaseAll(5_000);
    expect(t.handled).toHaveLength(5_000);
    await app.close();
  });
});

describe('memory backend: lanes up to concurrency', () => {
  it('a handler that stays pending does not hold up the items behind it, in a first burst and in a later one', async () => {
    const gates: Array<() => void> = [];
    const handled: number[] = [];
    let running = 0;
    let max = 0;
    @Injectable()
    class Producer {
      constructor(@InjectQueue('lanes') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('lanes', { concurrency: 3 })
      async handle(item: number) {
        running++;
        max = Math.max(max, running);
        if (item % 10 === 1) await new Promise<void>((resolve) => gates.push(resolve)); // 1 and 11 wait for the test
        else await sleep(5);
        running--;
        handled.push(item);
      }
    }
    const { app } = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'lanes' })], providers: [Producer, Worker] });
    const producer = app.get(Producer).queue;

    for (let i = 1; i <= 6; i++) await producer.enqueue(i);
    await waitFor(() => handled.length === 5, 10_000, 'items 2-6 handled while item 1 is pending');
    expect(handled).toEqual([2, 3, 4, 5, 6]);
    expect(max).toBeLessThanOrEqual(3);
    gates.splice(0).forEach((open) => open());
    await waitFor(() => handled.length === 6);

    // The extra lanes left when idle; a later burst gets them back.
    await sleep(50);
    max = 0;
    for (let i = 11; i <= 20; i++) await producer.enqueue(i);
    await waitFor(() => handled.length === 15, 10_000, 'items 12-20 handled while item 11 is pending');
    expect(max).toBe(3);
    gates.splice(0).forEach((open) => open());
    await waitFor(() => handled.length === 16);
    await app.close();
  });
});

describe('memory backend when reporting a failure throws', () => {
  it('still retries the item, logs the lane that stopped instead of an unhandled rejection, and keeps delivering', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const tries: Array<{ item: number; attempt: number }> = [];
      @Injectable()
      class Producer {
        constructor(@InjectQueue('shaky') readonly queue: WorkQueue<number>) {}
      }
      @Injectable()
      class Worker {
        @QueueWorker('shaky', { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } })
        handle(item: number, ctx: JobContext) {
          tries.push({ item, attempt: ctx.attempt });
          if (item === 1 && ctx.attempt === 1) throw new Error('first try fails');
        }
      }
      const time = new VirtualTime(); // the retry backoff runs on virtual time: the retry comes exactly 20 ms later
      const { app, logger } = await startHostingApp({
        imports: [HostingModule.registerQueue({ name: 'shaky' })],
        providers: [Producer, Worker],
        hosting: { timeProvider: time },
      });
      const warn = logger.warn.bind(logger);
      logger.warn = (message: unknown, ...rest: unknown[]) => {
        if (String(message).includes('will retry')) throw new Error('the log sink is down');
        warn(message, ...rest);
      };
      await app.get(Producer).queue.enqueue(1);
      await time.advance(19);
      expect(tries).toHaveLength(1);
      await time.advance(1);
      expect(tries).toHaveLength(2);
      await app.get(Producer).queue.enqueue(2);
      await time.advance(0);
      expect(tries).toEqual([
        { item: 1, attempt: 1 },
        { item: 1, attempt: 2 },
        { item: 2, attempt: 1 },
      ]);
      const logged = logger.find('error', QUEUE_LANE_FAILED('shaky'));
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(logged[0])).toContain('the log sink is down');
      expect(app.get(HostingRegistry).get('shaky')).toMatchObject({ processed: 2, inFlight: 0 });
      await app.close();
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});

describe('memory backend: pause and resume', () => {
  it('HostingRegistry.pause stops handing out items; resume delivers them', async () => {
    const handled: number[] = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('pausable') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('pausable')
      handle(item: number) {
        handled.push(item);
      }
    }
    // On virtual time, settle() runs the event loop until the queue is idle: no real wait for "nothing happens".
    const time = new VirtualTime();
    const { app } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'pausable' })],
      providers: [Producer, Worker],
      hosting: { timeProvider: time },
    });
    const registry = app.get(HostingRegistry);
    const queue = app.get(Producer).queue;
    await queue.enqueue(1);
    await time.settle();
    expect(handled).toEqual([1]);
    registry.pause('pausable');
    await queue.enqueue(2); // a lane already waiting may take one more item
    await queue.enqueue(3);
    await queue.enqueue(4);
    await time.advance(60_000);
    const whilePaused = handled.length;
    expect(whilePaused).toBeLessThanOrEqual(2);
    expect(registry.get('pausable')).toMatchObject({ paused: true, depth: 4 - whilePaused });
    registry.resume('pausable');
    await time.settle();
    expect(handled).toEqual([1, 2, 3, 4]);
    await app.close();
  });
});

describe('memory backend at the shutdown deadline', () => {
  it('aborts the in-flight signal, hands undelivered items (the one in flight too) to onDropped and logs their count', async () => {
    const dropped: number[] = [];
    const aborted: unknown[] = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('slow') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('slow')
      async handle(_item: number, ctx: JobContext) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        aborted.push(ctx.signal.reason);
        await new Promise(() => undefined); // and never finishes
      }
    }
    const { app, logger } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'slow', onDropped: (item) => dropped.push(item as number) })],
      providers: [Producer, Worker],
      hosting: { shutdownTimeoutMs: 200 },
    });
    for (let i = 1; i <= 5; i++) await app.get(Producer).queue.enqueue(i);
    await waitFor(() => app.get(HostingRegistry).get('slow')?.inFlight === 1);
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(aborted).toHaveLength(1);
    expect(dropped).toEqual([1, 2, 3, 4, 5]);
    expect(logger.find('warn', QUEUE_UNDELIVERED('slow', 5, false))).toHaveLength(1);
    expect(logger.find('error', SHUTDOWN_ABANDONED(200, ['slow']))).toHaveLength(1);
  });
});

describe('memory backend without a worker', () => {
  it('reports what is still queued at shutdown to onDropped and in the log, without waiting for the deadline', async () => {
    const dropped: Array<{ item: number; reason: string }> = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('orphan') readonly queue: WorkQueue<number>) {}
    }
    const { app, logger } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'orphan', onDropped: (item, reason) => dropped.push({ item: item as number, reason }) })],
      providers: [Producer],
      hosting: { shutdownTimeoutMs: 30_000 },
    });
    for (let i = 1; i <= 3; i++) await app.get(Producer).queue.enqueue(i);
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(dropped).toEqual([1, 2, 3].map((item) => ({ item, reason: 'shutdown' })));
    expect(logger.find('warn', QUEUE_UNDELIVERED('orphan', 3, false))).toHaveLength(1);
  });
});

describe('bad queue declarations', () => {
  it.each([
    [{ name: '' }, INVALID_QUEUE_OPTION('', 'name', 'a non-empty string', '')],
    [{ name: 'q', capacity: 0 }, INVALID_QUEUE_OPTION('q', 'capacity', 'a positive integer', 0)],
    [{ name: 'q', fullMode: 'dropAll' }, INVALID_QUEUE_OPTION('q', 'fullMode', "one of 'wait', 'dropOldest', 'dropNewest', 'reject'", 'dropAll')],
    [{ name: 'q', backend: 'kafka' }, INVALID_QUEUE_OPTION('q', 'backend', "'memory', 'bullmq' or { type: 'bullmq', connection }", 'kafka')],
  ])('registerQueue(%p) throws', (options, message) => {
    expect(() => HostingModule.registerQueue(options as never)).toThrow(message);
  });

  it('bad @QueueWorker options fail as the class is defined', () => {
    expect(() => {
      @Injectable()
      class Worker {
        @QueueWorker('q', { concurrency: 0 })
        handle() {}
      }
      return Worker;
    }).toThrow(INVALID_OPTION('@QueueWorker', 'Worker.handle', 'concurrency', 'a positive integer', 0));
  });

  it("a 'bullmq' queue without a connection fails at start-up", async () => {
    await expect(compileHostingApp({ imports: [HostingModule.registerQueue({ name: 'b', backend: 'bullmq' })] })).rejects.toThrow(
      INVALID_QUEUE_OPTION('b', 'backend', "given a connection (Redis) or postgres (PostgreSQL), or HostingModule.forRoot({ redis }) or forRoot({ postgres }) set, for 'bullmq'", 'bullmq'),
    );
  });
});
