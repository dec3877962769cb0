import { Injectable, Module } from '@nestjs/common';
import { setTimeout as delay } from 'node:timers/promises';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  JobContext,
  QueueWorker,
  ThrownValueError,
  type WorkQueue,
} from '../../src/index.js';
import { QUEUE_ITEM_FAILED } from '../../src/hosting.messages.js';
import { compileHostingApp, sleep, startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

describe('one queue per name per app', () => {
  it('two feature modules registering one name share one queue: every item reaches the one worker', async () => {
    const handled: string[] = [];
    @Injectable()
    class OrdersProducer {
      constructor(@InjectQueue('shared') readonly queue: WorkQueue<string>) {}
    }
    @Module({ imports: [HostingModule.registerQueue({ name: 'shared' })], providers: [OrdersProducer], exports: [OrdersProducer] })
    class OrdersModule {}
    @Injectable()
    class BillingProducer {
      constructor(@InjectQueue('shared') readonly queue: WorkQueue<string>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('shared')
      handle(item: string) {
        handled.push(item);
      }
    }
    @Module({ imports: [HostingModule.registerQueue({ name: 'shared' })], providers: [BillingProducer, Worker], exports: [BillingProducer] })
    class BillingModule {}

    const { app, logger } = await startHostingApp({ imports: [OrdersModule, BillingModule] });
    expect(app.get(OrdersProducer).queue).toBe(app.get(BillingProducer).queue);
    for (let i = 0; i < 100; i++) {
      await app.get(OrdersProducer).queue.enqueue(`order-${i}`);
      await app.get(BillingProducer).queue.enqueue(`bill-${i}`);
    }
    // Before the fix two queues existed and only one had the worker: half the items vanished.
    await waitFor(() => handled.length === 200, 10_000, '200 items handled');
    expect(app.get(HostingRegistry).list().filter((s) => s.kind === 'queue')).toHaveLength(1);
    expect(logger.find('warn', 'has no @QueueWorker')).toHaveLength(0);
    await app.close();
  });

  it('conflicting registrations fail at start-up, naming the option and both places', async () => {
    @Module({ imports: [HostingModule.registerQueue({ name: 'jobs', capacity: 10 })] })
    class First {}
    @Module({ imports: [HostingModule.registerQueue({ name: 'jobs', capacity: 20 })] })
    class Second {}
    const failure = await compileHostingApp({ imports: [First, Second] }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(/queue "jobs" is registered twice with different options: "capacity" is 10 at \S+queue-faults\.spec\.ts:\d+:\d+ and 20 at \S+queue-faults\.spec\.ts:\d+:\d+/);
  });
});

describe('thrown values in a queue worker', () => {
  it.each([
    ['null', () => null, 'a non-Error value was thrown: null'],
    ['a string', () => 'rate limited', 'rate limited'],
    ['an object with a message', () => ({ message: 'boom' }), 'boom'],
  ])('a handler that throws %s: retried, then onFailed gets a ThrownValueError with the value', async (_label, thrown, message) => {
    const failed: Array<{ error: unknown }> = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('odd') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('odd', { attempts: 2 })
      handle() {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: non-Error values thrown by a handler
        throw thrown();
      }
    }
    const { app, logger } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'odd', onFailed: (_item, error) => failed.push({ error }) })],
      providers: [Producer, Worker],
    });
    const id = await app.get(Producer).queue.enqueue(1);
    await waitFor(() => failed.length === 1);
    const error = failed[0].error as ThrownValueError;
    expect(error).toBeInstanceOf(ThrownValueError);
    expect(error.message).toBe(message);
    expect(error.thrown).toEqual(thrown());
    expect(app.get(HostingRegistry).get('odd')).toMatchObject({ failed: 1, lastError: { message } });
    expect(logger.find('error', QUEUE_ITEM_FAILED('odd', id, 2))[0].details).toContain(message);
    await app.close();
  });
});

describe('memory queue accounting at the shutdown deadline', () => {
  it('every item is reported once: processed, failed or dropped; items in flight at the deadline are dropped, not failed', async () => {
    const ITEMS = 60;
    const processed: number[] = [];
    const failed: number[] = [];
    const dropped: number[] = [];
    @Injectable()
    class Producer {
      constructor(@InjectQueue('mixed') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('mixed', { concurrency: 4, attempts: 2, backoff: { type: 'fixed', delayMs: 20 } })
      async handle(item: number, ctx: JobContext) {
        if (item % 3 === 0) throw new Error(`item ${item} is bad`); // fails both tries
        if (item % 3 === 1) {
          await delay(5);
          processed.push(item);
          return;
        }
        await delay(3_600_000, undefined, { signal: ctx.signal }); // honours its signal at the deadline
      }
    }
    const { app, logger } = await startHostingApp({
      imports: [
        HostingModule.registerQueue<number>({
          name: 'mixed',
          onFailed: (item) => failed.push(item),
          onDropped: (item) => dropped.push(item),
        }),
      ],
      providers: [Producer, Worker],
      hosting: { shutdownTimeoutMs: 400 },
    });
    for (let i = 1; i <= ITEMS; i++) await app.get(Producer).queue.enqueue(i);
    await waitFor(() => app.get(HostingRegistry).get('mixed')?.inFlight === 4);
    await app.close();

    const all = [...processed, ...failed, ...dropped].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: ITEMS }, (_, i) => i + 1)); // each once, none lost
    expect(failed.every((item) => item % 3 === 0)).toBe(true);
    expect(processed.every((item) => item % 3 === 1)).toBe(true);
    expect(dropped.filter((item) => item % 3 === 2).length).toBeGreaterThanOrEqual(4); // the ones in flight
    // Before the fix an aborted in-flight item was reported as "failed after 1 try".
    expect(logger.find('error', 'failed after 1 try')).toHaveLength(0);
    expect(app.get(HostingRegistry).get('mixed')).toMatchObject({ failed: failed.length, processed: processed.length });
  });
});

describe('per-item signals', () => {
  it('at concurrency 20, timers/promises with ctx.signal raise no MaxListenersExceededWarning, and each item has its own signal', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const signals = new Set<AbortSignal>();
    let done = 0;
    @Injectable()
    class Producer {
      constructor(@InjectQueue('wide') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('wide', { concurrency: 20 })
      async handle(_item: number, ctx: JobContext) {
        signals.add(ctx.signal);
        ctx.signal.addEventListener('abort', () => undefined); // a listener the handler forgets
        await delay(30, undefined, { signal: ctx.signal });
        done++;
      }
    }
    try {
      const { app } = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'wide' })], providers: [Producer, Worker] });
      for (let i = 0; i < 200; i++) await app.get(Producer).queue.enqueue(i);
      await waitFor(() => done === 200, 20_000, '200 items');
      await sleep(50); // a warning is emitted on the next tick
      await app.close();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    expect(signals.size).toBe(200);
  });

  it('the signal of an item in flight aborts at the shutdown deadline, with a reason naming the queue', async () => {
    let reason: unknown;
    @Injectable()
    class Producer {
      constructor(@InjectQueue('stuck') readonly queue: WorkQueue<number>) {}
    }
    @Injectable()
    class Worker {
      @QueueWorker('stuck')
      async handle(_item: number, ctx: JobContext) {
        await untilAborted(ctx.signal);
        reason = ctx.signal.reason;
      }
    }
    const { app } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'stuck' })],
      providers: [Producer, Worker],
      hosting: { shutdownTimeoutMs: 100 },
    });
    await app.get(Producer).queue.enqueue(1);
    await waitFor(() => app.get(HostingRegistry).get('stuck')?.inFlight === 1);
    await app.close();
    await waitFor(() => reason !== undefined);
    expect(String((reason as Error).message)).toContain('queue "stuck"');
  });
});
