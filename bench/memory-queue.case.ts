/**
 * One measurement of figure 5a, run by memory-queue.bench.ts in a fresh process of its own, so
 * that no measurement pays for the garbage, the heap growth or the JIT state of another
 * (p-queue's pending closures, a backlog of queued items). Which one: the QUEUE_CASES
 * environment variable (a list of one; the smoke run passes a whole round).
 *
 * Each process first runs its case untimed (`warmThenTime`), then a full collection before the
 * one timed run.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import PQueue from 'p-queue';
import { HostingModule, HostingRegistry, QueueWorker, getQueueToken, type WorkQueue } from '../src/index.js';
import { sized, sleep } from './bench-result.js';

/**
 * - `end to end`: enqueue and handling timed together, the producer adding every item without
 *   awaiting (as `p-queue.add` is used);
 * - `drain`: the items are queued before the clock starts (worker paused, p-queue not started);
 * - `bounded`: the producer awaits room before each item: `await enqueue` into capacity 1,000
 *   (`fullMode: 'wait'`), and p-queue's own pattern, `await queue.onSizeLessThan(1000)` before each `add`;
 * - `try`: as `end to end`, the producer calling the library's `tryEnqueue` (no promise, no id) for
 *   every item (the library only: p-queue has no such call).
 */
export type Timing = 'end to end' | 'drain' | 'bounded' | 'try';
/** What the handler does: nothing (the queue's own cost), one `setImmediate`, or one 1 ms timer. */
export type Work = 'no-op' | 'immediate' | 'timer';

/** What memory-queue.bench.ts asks of this process. */
export type QueueCase =
  | { kind: 'bare'; items: number }
  | { kind: 'p-queue' | 'hosted'; concurrency: number; timing: Timing; work: Work; items: number }
  | { kind: 'memory'; seconds: number };

export interface MemoryFigure {
  peakMb: number;
  baseMb: number;
  produced: number;
}

export const CAPACITY = 1_000;

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written, never read: keeps the handler's work from being optimised away
let sink = 0;

/** The handler's body, the same for the bare loop, p-queue and the `@QueueWorker`. */
const works: Record<Work, (item: number) => Promise<void>> = {
  'no-op': async (item) => {
    sink += item;
  },
  immediate: (item) =>
    new Promise<void>((resolve) => {
      sink += item;
      setImmediate(resolve);
    }),
  timer: (item) =>
    new Promise<void>((resolve) => {
      sink += item;
      setTimeout(resolve, 1);
    }),
};

/** What one case measured: the timed run's rate (items/s), and for the no-op handler the first run's. */
export interface CaseRate {
  rate: number;
  /** The first full-size run in the fresh process (a cold JIT), no-op handler only. */
  coldRate?: number;
  /** `try` only: `tryEnqueue` calls that returned false, over every run of the process (an unbounded queue: none). */
  refused?: number;
}

/** Untimed warm-up with the no-op handler: at least this many full-size runs (the first is the cold one) and this long, at most MAX. */
const MIN_WARM_RUNS = sized(3, 1);
const MIN_WARM_MS = sized(1_000, 0);
const MAX_WARM_RUNS = 10;

/**
 * The untimed runs before the timed one, under one rule for the library and its anchors. No-op
 * handler: full-size runs until at least three ran and a second passed (at most ten), so that the
 * timed run is a warm process's, as in a server that has served for a while (code optimised during
 * a first run is often deoptimised at its end, on a path it had not seen, and optimised again only
 * later); the first of them is kept as the cold figure. Yielding handlers: one run of a tenth
 * (waiting, not the JIT, sets their pace).
 */
async function warmThenTime(once: (items: number) => Promise<number>, work: Work, items: number): Promise<CaseRate> {
  if (work !== 'no-op') {
    await once(Math.max(1, Math.round(items / 10)));
    return { rate: await once(items) };
  }
  const coldRate = await once(items);
  const started = performance.now();
  for (let runs = 1; runs < MAX_WARM_RUNS && (runs < MIN_WARM_RUNS || performance.now() - started < MIN_WARM_MS); runs++) await once(items);
  return { rate: await once(items), coldRate };
}

/** A full collection before the clock starts, so that no garbage made before it is billed to the run. */
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** The anchor: `for … await handle(item)` over an array built before the clock starts. */
async function bareLoop(items: number): Promise<number> {
  const handle = works['no-op'];
  const array = Array.from({ length: items }, (_, i) => i);
  gc();
  const t0 = performance.now();
  for (const item of array) await handle(item);
  return items / ((performance.now() - t0) / 1000);
}

async function pQueue(concurrency: number, timing: Timing, work: Work, items: number): Promise<number> {
  const handle = works[work];
  const queue = new PQueue({ concurrency, autoStart: timing !== 'drain' });
  gc();
  let t0 = performance.now();
  if (timing === 'bounded') {
    for (let i = 0; i < items; i++) {
      await queue.onSizeLessThan(CAPACITY); // p-queue's backpressure: wait for room before adding
      void queue.add(() => handle(i));
    }
  } else for (let i = 0; i < items; i++) void queue.add(() => handle(i));
  if (timing === 'drain') {
    gc();
    t0 = performance.now();
    queue.start();
  }
  await queue.onIdle();
  return items / ((performance.now() - t0) / 1000);
}

/** The library: a static `@QueueWorker` whose method runs the same body as `works[work]`. */
async function hosted(concurrency: number, timing: Timing, work: Work, items: number): Promise<CaseRate> {
  let done = 0;
  /** Items the timed run waits for: `items`, less those `tryEnqueue` refused. */
  let expected = items;
  let refused = 0;
  let finish!: () => void;
  let finished!: Promise<void>;
  const handle = works[work];
  @Injectable()
  class NoOpWorker {
    // The no-op body as one async method (no second await layer), as the bare loop's `handle`.
    @QueueWorker('bench', { concurrency })
    async handle(item: number) {
      sink += item;
      if (++done === expected) finish();
    }
  }
  @Injectable()
  class YieldingWorker {
    @QueueWorker('bench', { concurrency })
    async handle(item: number) {
      await handle(item);
      if (++done === expected) finish();
    }
  }
  const capacity = timing === 'bounded' ? CAPACITY : undefined;
  @Module({
    imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name: 'bench', capacity, fullMode: 'wait' })],
    providers: [work === 'no-op' ? NoOpWorker : YieldingWorker],
  })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const queue = app.get<WorkQueue<number>>(getQueueToken('bench'));
  const registry = app.get(HostingRegistry);
  const once = async (size: number): Promise<number> => {
    items = size;
    expected = size;
    done = 0;
    finished = new Promise<void>((resolve) => (finish = resolve));
    if (timing === 'drain') registry.pause('bench');
    gc();
    let t0 = performance.now();
    if (timing === 'bounded') for (let i = 0; i < items; i++) await queue.enqueue(i); // waits for room when full
    else if (timing === 'try') {
      let refusedNow = 0;
      for (let i = 0; i < items; i++) if (!queue.tryEnqueue(i)) refusedNow++; // false: full (never, unbounded)
      if (refusedNow > 0) {
        refused += refusedNow;
        expected = items - refusedNow;
        if (done === expected) finish();
      }
    } else for (let i = 0; i < items; i++) void queue.enqueue(i);
    if (timing === 'drain') {
      await sleep(20); // let the enqueue promises settle
      gc();
      t0 = performance.now();
      registry.resume('bench');
    }
    await finished;
    return items / ((performance.now() - t0) / 1000);
  };
  const result = await warmThenTime(once, work, items);
  await app.close();
  return timing === 'try' ? { ...result, refused } : result;
}

/** Fast producer, slow consumer (1 ms per item), capacity 1,000: memory must stay bounded. */
async function peakMemory(seconds: number): Promise<MemoryFigure> {
  @Injectable()
  class SlowWorker {
    @QueueWorker('slow', { concurrency: 4 })
    async handle() {
      await sleep(1);
    }
  }
  @Module({ imports: [HostingModule.forRoot({ shutdownTimeoutMs: 100 }), HostingModule.registerQueue({ name: 'slow', capacity: CAPACITY, fullMode: 'wait' })], providers: [SlowWorker] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const queue = app.get<WorkQueue<{ payload: string }>>(getQueueToken('slow'));
  const baseMb = process.memoryUsage().rss / 1e6;
  let peakMb = baseMb;
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, process.memoryUsage().rss / 1e6)), 20);
  let produced = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await queue.enqueue({ payload: 'x'.repeat(1_000) }); // 1 KB items, as fast as the queue takes them
    produced++;
  }
  clearInterval(sampler);
  await app.close();
  return { peakMb, baseMb, produced };
}

/** One case: the rate (items/s) of its timed run, or the memory figure. */
async function runCase(which: QueueCase): Promise<CaseRate | MemoryFigure> {
  if (which.kind === 'memory') return peakMemory(which.seconds);
  if (which.kind === 'hosted') return hosted(which.concurrency, which.timing, which.work, which.items);
  if (which.kind === 'bare') return warmThenTime(bareLoop, 'no-op', which.items);
  return warmThenTime((items) => pQueue(which.concurrency, which.timing, which.work, items), which.work, which.items);
}

/**
 * The cases QUEUE_CASES lists, one after the other: one case per process in a real run; the
 * smoke run (BENCH_SMOKE=1) passes a whole round to one process, to stay within its seconds.
 */
export async function run(): Promise<{ results: Array<CaseRate | MemoryFigure> }> {
  const cases = JSON.parse(process.env.QUEUE_CASES ?? 'null') as QueueCase[] | null;
  if (!Array.isArray(cases)) throw new Error('memory-queue.case.ts: set QUEUE_CASES (memory-queue.bench.ts does)');
  const results: Array<CaseRate | MemoryFigure> = [];
  for (const which of cases) results.push(await runCase(which));
  return { results };
}
