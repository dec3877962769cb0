/**
 * Figure 5a — in-memory queue throughput: 1,000,000 items through a static @QueueWorker at
 * concurrency 1 and 8, against p-queue with the same concurrency and a bare async loop over an
 * array; and peak memory with capacity 1,000 while a fast producer meets a slow consumer.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import PQueue from 'p-queue';
import { HostingModule, QueueWorker, getQueueToken, type WorkQueue } from '../src/index.js';
import { fmt, median, sleep, table, type BenchResult } from './bench-result.js';

const ITEMS = 1_000_000;

/** The workload: an async handler that does almost nothing (the queue's own cost is measured). */
let sink = 0;
const handle = async (item: number): Promise<void> => {
  sink += item;
};

async function bareLoop(): Promise<number> {
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  const t0 = performance.now();
  for (const item of items) await handle(item);
  return ITEMS / ((performance.now() - t0) / 1000);
}

async function pQueue(concurrency: number): Promise<number> {
  const queue = new PQueue({ concurrency });
  const t0 = performance.now();
  for (let i = 0; i < ITEMS; i++) void queue.add(() => handle(i));
  await queue.onIdle();
  return ITEMS / ((performance.now() - t0) / 1000);
}

async function hosted(concurrency: number, capacity?: number): Promise<number> {
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  @Injectable()
  class Worker {
    // The same workload as `handle` above, as one async method (no second await layer).
    @QueueWorker('bench', { concurrency })
    async handle(item: number) {
      sink += item;
      if (++done === ITEMS) finish();
    }
  }
  @Module({ imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name: 'bench', capacity })], providers: [Worker] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const queue = app.get<WorkQueue<number>>(getQueueToken('bench'));
  const t0 = performance.now();
  if (capacity === undefined) for (let i = 0; i < ITEMS; i++) void queue.enqueue(i);
  else for (let i = 0; i < ITEMS; i++) await queue.enqueue(i); // backpressure: waits when full
  await finished;
  const rate = ITEMS / ((performance.now() - t0) / 1000);
  await app.close();
  return rate;
}

/** Fast producer, slow consumer (1 ms per item), capacity 1,000: memory must stay bounded. */
async function peakMemory(): Promise<{ peakMb: number; baseMb: number; produced: number }> {
  @Injectable()
  class SlowWorker {
    @QueueWorker('slow', { concurrency: 4 })
    async handle() {
      await sleep(1);
    }
  }
  @Module({ imports: [HostingModule.forRoot({ shutdownTimeoutMs: 100 }), HostingModule.registerQueue({ name: 'slow', capacity: 1_000, fullMode: 'wait' })], providers: [SlowWorker] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const queue = app.get<WorkQueue<{ payload: string }>>(getQueueToken('slow'));
  const baseMb = process.memoryUsage().rss / 1e6;
  let peakMb = baseMb;
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, process.memoryUsage().rss / 1e6)), 20);
  let produced = 0;
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    await queue.enqueue({ payload: 'x'.repeat(1_000) }); // 1 KB items, as fast as the queue takes them
    produced++;
  }
  clearInterval(sampler);
  await app.close();
  return { peakMb, baseMb, produced };
}

export async function run(): Promise<BenchResult> {
  const memory = await peakMemory(); // first, before the throughput runs inflate the heap
  const rounds = 3;
  const r = { bare: [] as number[], p1: [] as number[], p8: [] as number[], h1: [] as number[], h8: [] as number[], hb: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    r.bare.push(await bareLoop());
    r.p1.push(await pQueue(1));
    r.h1.push(await hosted(1));
    r.p8.push(await pQueue(8));
    r.h8.push(await hosted(8));
    r.hb.push(await hosted(1, 1_000));
  }
  const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)])) as Record<keyof typeof r, number>;
  const k = (rate: number) => `${fmt(rate / 1000, 0)}k`;
  const minVsP = Math.min(m.h1 / m.p1, m.h8 / m.p8);
  const vsBare = Math.min(m.h1, m.h8) / m.bare;
  return {
    title: '5a. In-memory queue throughput and memory',
    method:
      `${ITEMS.toLocaleString()} items of an async no-op handler, median of ${rounds} rounds. The queue is unbounded and ` +
      'filled without awaiting (as `p-queue.add` is); "bounded" awaits each `enqueue` into a queue of capacity 1,000. ' +
      'Memory: a producer of 1 KB items as fast as a capacity-1,000 `wait` queue takes them, four slow consumers (1 ms each), 5 s.',
    markdown:
      table(
        ['path', 'items/s', 'vs p-queue', 'vs bare loop'],
        [
          ['bare `for … await handle(item)` (anchor)', k(m.bare), '', '1.00'],
          ['`p-queue`, concurrency 1 (anchor)', k(m.p1), '1.00', fmt(m.p1 / m.bare)],
          ['`@QueueWorker`, concurrency 1', k(m.h1), fmt(m.h1 / m.p1), fmt(m.h1 / m.bare)],
          ['`p-queue`, concurrency 8 (anchor)', k(m.p8), '1.00', fmt(m.p8 / m.bare)],
          ['`@QueueWorker`, concurrency 8', k(m.h8), fmt(m.h8 / m.p8), fmt(m.h8 / m.bare)],
          ['`@QueueWorker`, concurrency 1, bounded (await each enqueue)', k(m.hb), fmt(m.hb / m.p1), fmt(m.hb / m.bare)],
        ],
      ) +
      `\n\nPeak RSS with capacity 1,000 (fast producer, slow consumer): ${fmt(memory.peakMb, 1)} MB from ${fmt(memory.baseMb, 1)} MB ` +
      `at the start, while ${memory.produced.toLocaleString()} items of 1 KB went through: bounded by the capacity.`,
    targets: [
      { target: 'at least as fast as p-queue (concurrency 1 and 8)', measured: `${fmt(minVsP)}× p-queue (the lower of the two)`, met: minVsP >= 1 },
      {
        target: 'at least half the rate of a bare async loop',
        measured: `${fmt(vsBare)}× the bare loop`,
        met: vsBare >= 0.5,
        gap:
          vsBare >= 0.5
            ? undefined
            : 'per item the queue does what a loop does not: it allocates the item record, its id and its JobContext, counts status, and settles one extra promise for the handler\'s result; a bare loop over an array pays a single await',
      },
      { target: 'memory bounded with capacity 1,000', measured: `peak RSS +${fmt(memory.peakMb - memory.baseMb, 1)} MB over ${memory.produced.toLocaleString()} items`, met: memory.peakMb - memory.baseMb < 100 },
    ],
  };
}
