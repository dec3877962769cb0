/**
 * One measurement of figure 5a, run by memory-queue.bench.ts in a fresh process of its own, so
 * that no measurement pays for the garbage or the heap growth of another (p-queue's million
 * pending closures, a million queued items). Which one: the QUEUE_CASE environment variable.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import PQueue from 'p-queue';
import { HostingModule, HostingRegistry, QueueWorker, getQueueToken, type WorkQueue } from '../src/index.js';
import { sleep } from './bench-result.js';

export type Timing = 'drain' | 'end to end';

/** What memory-queue.bench.ts asks of this process. */
export type QueueCase =
  | { kind: 'bare'; reps: number }
  | { kind: 'p-queue'; concurrency: number; timing: Timing; reps: number }
  | { kind: 'hosted'; concurrency: number; timing: Timing; capacity?: number; reps: number }
  | { kind: 'memory' };

export interface MemoryFigure {
  peakMb: number;
  baseMb: number;
  produced: number;
}

const ITEMS = 1_000_000;

/** The workload: an async handler that does almost nothing (the queue's own cost is measured). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written, never read: keeps the handler's work from being optimised away
let sink = 0;
const handle = async (item: number): Promise<void> => {
  sink += item;
};

/** A full collection between measurements, so that one run's garbage is not billed to the next. */
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();


async function bareLoop(): Promise<number> {
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  gc();
  const t0 = performance.now();
  for (const item of items) await handle(item);
  return ITEMS / ((performance.now() - t0) / 1000);
}

async function pQueue(concurrency: number, timing: Timing): Promise<number> {
  const queue = new PQueue({ concurrency, autoStart: timing !== 'drain' });
  gc();
  let t0 = performance.now();
  for (let i = 0; i < ITEMS; i++) void queue.add(() => handle(i));
  if (timing === 'drain') {
    gc();
    t0 = performance.now();
    queue.start();
  }
  await queue.onIdle();
  return ITEMS / ((performance.now() - t0) / 1000);
}

async function hosted(concurrency: number, timing: Timing, capacity?: number): Promise<number> {
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
  const registry = app.get(HostingRegistry);
  if (timing === 'drain') registry.pause('bench');
  gc();
  let t0 = performance.now();
  if (capacity === undefined) for (let i = 0; i < ITEMS; i++) void queue.enqueue(i);
  else for (let i = 0; i < ITEMS; i++) await queue.enqueue(i); // backpressure: waits when full
  if (timing === 'drain') {
    await sleep(20); // let the enqueue promises settle
    gc();
    t0 = performance.now();
    registry.resume('bench');
  }
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

export async function run(): Promise<{ rates: number[] } | MemoryFigure> {
  const which = JSON.parse(process.env.QUEUE_CASE ?? 'null') as QueueCase | null;
  if (!which) throw new Error('memory-queue.case.ts: set QUEUE_CASE (memory-queue.bench.ts does)');
  if (which.kind === 'memory') return peakMemory();
  const rates: number[] = [];
  for (let i = 0; i < which.reps; i++) {
    if (which.kind === 'bare') rates.push(await bareLoop());
    else if (which.kind === 'p-queue') rates.push(await pQueue(which.concurrency, which.timing));
    else rates.push(await hosted(which.concurrency, which.timing, which.capacity));
  }
  return { rates };
}
