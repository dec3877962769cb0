/**
 * Figure 5c — delayed items: how late each runs past its due time, on both backends, each beside
 * its anchor.
 *
 * Items are enqueued at a steady rate, each with the same delay; an item's lateness is its
 * handler's start minus its due time (`performance.now()` read just before the enqueue call, plus
 * the delay). Memory: `WorkQueue.enqueue(item, { delayMs })` → `@QueueWorker` on the memory
 * backend, beside a hand-written `setTimeout(handle, delay)` (the limit: one timer per item).
 * BullMQ: the same `enqueue` on a bullmq-backed queue, beside raw `Queue.add(name, item, { delay })`
 * → `Worker`, on one throw-away redis-server. Producer and handler share this process (one clock).
 * A round runs the four paths once each, in an order reversed every other round; targets are
 * judged on the median of the per-round paired differences (library − anchor of the same round).
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { cpus, loadavg } from 'node:os';
import { getQueueToken, HostingModule, QueueWorker, type WorkQueue } from '../src/index.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';
import { fmt, median, percentile, sized, sleep, spread, table, type BenchResult, type BenchTarget } from './bench-result.js';

/** The delay of every item, ms. */
const DELAY_MS = 200;
/** Items enqueued per second, and seconds per round. */
const RATE = 50;
const SECONDS = sized(5, 0.4);
const ROUNDS = sized(6, 1);
/** The untimed first round of each path (loading, compiling, BullMQ's scripts). */
const WARM_SECONDS = sized(1, 0.1);
const CONCURRENCY = 16;
/** Target: library p50 and p99 within this of its anchor (median of the per-round paired differences). */
const MARGIN_MS = 1;
/** The retention the library's BullMQ backend gives its worker by default; the raw worker gets the same. */
const KEEP = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 10_000 } };

type Path = 'memory anchor' | 'memory library' | 'bullmq raw' | 'bullmq library';
const PATHS: Path[] = ['memory anchor', 'memory library', 'bullmq raw', 'bullmq library'];

interface Item {
  /** `performance.now()` read just before the enqueue call, plus the delay. */
  due: number;
}

/** Where handlers report: the item whose handler just started. */
let record: (item: Item) => void = () => undefined;

/** One side of a round: schedules an item `DELAY_MS` ahead; its handler calls `record`. */
interface Side {
  add(item: Item): Promise<unknown> | void;
  close(): Promise<void>;
}

let counter = 0;
/** A fresh queue name, the same length on every path (the name is in every Redis key BullMQ touches). */
const queueName = (tag: 'raw' | 'lib' | 'mem') => `delay-${tag}-${process.pid}-${++counter}`;

/** The library on `backend`: `enqueue(item, { delayMs })` → `@QueueWorker`. */
async function librarySide(name: string, redis?: RedisServerHandle): Promise<Side> {
  @Injectable()
  class DelayedWorker {
    @QueueWorker(name, { concurrency: CONCURRENCY })
    async handle(item: Item): Promise<void> {
      record(item);
    }
  }
  @Module({
    imports: [
      HostingModule.forRoot(),
      HostingModule.registerQueue({ name, ...(redis && { backend: { type: 'bullmq' as const, connection: redis.url } }) }),
    ],
    providers: [DelayedWorker],
  })
  class DelayedModule {}
  const app = await NestFactory.createApplicationContext(DelayedModule, { logger: ['error', 'warn'] });
  const queue = app.get<WorkQueue<Item>>(getQueueToken(name));
  if (redis) {
    const admin = new Queue(name, { connection: { host: redis.host, port: redis.port } });
    admin.on('error', () => undefined);
    await workerUp(admin);
    return {
      add: (item) => queue.enqueue(item, { delayMs: DELAY_MS }),
      close: async () => {
        await app.close();
        await admin.obliterate({ force: true }).catch(() => undefined);
        await admin.close();
      },
    };
  }
  return { add: (item) => queue.enqueue(item, { delayMs: DELAY_MS }), close: () => app.close() };
}

/** The memory anchor: one `setTimeout` per item, its callback the same async handler body. */
function timerSide(): Side {
  const handle = async (item: Item) => {
    record(item);
  };
  const timers = new Set<NodeJS.Timeout>();
  return {
    add: (item) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void handle(item);
      }, DELAY_MS);
      timers.add(timer);
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

/** Raw BullMQ: `Queue.add(name, item, { delay })` → a `Worker` of the same concurrency and retention. */
async function rawSide(redis: RedisServerHandle, name: string): Promise<Side> {
  const connection = { host: redis.host, port: redis.port };
  const queue = new Queue(name, { connection });
  const worker = new Worker(
    name,
    async (job) => {
      record(job.data as Item);
    },
    { connection, concurrency: CONCURRENCY, ...KEEP },
  );
  queue.on('error', () => undefined);
  worker.on('error', () => undefined);
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  await workerUp(queue);
  return {
    add: (item) => queue.add(name, item, { delay: DELAY_MS }),
    close: async () => {
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    },
  };
}

/** Waits until a worker is registered in Redis on the queue. */
async function workerUp(admin: Queue): Promise<void> {
  while ((await admin.getWorkersCount()) < 1) await sleep(10);
}

interface Lateness {
  p50: number;
  p99: number;
}

/** One round of `path`: `RATE` items/s for `seconds`, each `DELAY_MS` ahead; the lateness of each handler start. */
async function round(redis: RedisServerHandle, path: Path, seconds: number): Promise<Lateness> {
  const side =
    path === 'memory anchor'
      ? timerSide()
      : path === 'memory library'
        ? await librarySide(queueName('mem'))
        : path === 'bullmq raw'
          ? await rawSide(redis, queueName('raw'))
          : await librarySide(queueName('lib'), redis);
  try {
    const total = Math.max(1, Math.round(RATE * seconds));
    const lateness: number[] = [];
    let allHandled!: () => void;
    const finished = new Promise<void>((resolve) => (allHandled = resolve));
    record = (item) => {
      lateness.push(performance.now() - item.due);
      if (lateness.length === total) allHandled();
    };
    // A fixed-rate loop: item i is due to be enqueued at start + i × period; a late timer catches up.
    const period = 1_000 / RATE;
    const start = performance.now();
    const adds: Array<Promise<unknown> | void> = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * period - performance.now();
      if (wait > 0) await sleep(wait);
      adds.push(side.add({ due: performance.now() + DELAY_MS }));
    }
    await Promise.all([...adds, finished]);
    return { p50: percentile(lateness, 50), p99: percentile(lateness, 99) };
  } finally {
    record = () => undefined;
    await side.close();
  }
}

export async function run(): Promise<BenchResult> {
  const load = loadavg()[0];
  const redis = await startRedisServer();
  try {
    for (const path of PATHS) await round(redis, path, WARM_SECONDS); // warm-up, not recorded
    const results: Record<Path, Lateness[]> = { 'memory anchor': [], 'memory library': [], 'bullmq raw': [], 'bullmq library': [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? PATHS : [...PATHS].reverse();
      for (const path of order) results[path].push(await round(redis, path, SECONDS));
    }

    const ms = (values: number[]) => spread(values, 2);
    const diff = (library: Path, anchor: Path, key: keyof Lateness) => results[library].map((l, i) => l[key] - results[anchor][i][key]);
    const row = (label: string, path: Path) => [label, ROUNDS, ms(results[path].map((l) => l.p50)), ms(results[path].map((l) => l.p99))];
    const diffRow = (label: string, library: Path, anchor: Path) => [label, ROUNDS, ms(diff(library, anchor, 'p50')), ms(diff(library, anchor, 'p99'))];
    const rows = [
      row(`memory: hand-written \`setTimeout(handle, ${DELAY_MS})\` (anchor)`, 'memory anchor'),
      row(`memory: \`enqueue(item, { delayMs: ${DELAY_MS} })\` → \`@QueueWorker\``, 'memory library'),
      diffRow('memory: library − anchor (per-round paired difference)', 'memory library', 'memory anchor'),
      row(`BullMQ: raw \`Queue.add(name, item, { delay: ${DELAY_MS} })\` → \`Worker\` (anchor)`, 'bullmq raw'),
      row(`BullMQ: \`enqueue(item, { delayMs: ${DELAY_MS} })\` → \`@QueueWorker\``, 'bullmq library'),
      diffRow('BullMQ: library − raw (per-round paired difference)', 'bullmq library', 'bullmq raw'),
    ];

    const signed = (v: number) => `${v >= 0 ? '+' : ''}${fmt(v)} ms`;
    const perRound = (values: number[]) => values.map((v) => fmt(v)).join(', ');
    const target = (backend: string, anchor: string, library: Path, anchorPath: Path): BenchTarget => {
      const p50 = diff(library, anchorPath, 'p50');
      const p99 = diff(library, anchorPath, 'p99');
      const met = median(p50) <= MARGIN_MS && median(p99) <= MARGIN_MS;
      return {
        target: `${backend}: delayed-item lateness (${DELAY_MS} ms delay, ${RATE} items/s) p50 and p99 within ${MARGIN_MS} ms of ${anchor} (median of the per-round paired differences)`,
        measured: `p50 ${signed(median(p50))}, p99 ${signed(median(p99))}`,
        met,
        ...(!met && { gap: `per-round differences of this run: p50 ${perRound(p50)} ms; p99 ${perRound(p99)} ms` }),
      };
    };

    return {
      title: '5c. Delayed-item lateness',
      method:
        `Items enqueued at a steady ${RATE} items/s for ${SECONDS} s per round, each with a ${DELAY_MS} ms delay; an item's lateness is its ` +
        'handler\'s start minus its due time (`performance.now()` read just before the enqueue call, plus the delay), producer and handler ' +
        `in this process (one clock). Memory backend: \`WorkQueue.enqueue(item, { delayMs: ${DELAY_MS} })\` → \`@QueueWorker\` beside a ` +
        `hand-written \`setTimeout(handle, ${DELAY_MS})\` per item (the limit), the same async handler body. BullMQ backend: the same \`enqueue\` ` +
        `on a \`registerQueue({ backend: { type: 'bullmq', connection } })\` queue beside raw \`Queue.add(name, item, { delay: ${DELAY_MS} })\` → ` +
        `\`Worker\`, both at concurrency ${CONCURRENCY} with the same job retention, on one local redis-server (127.0.0.1). ` +
        `${ROUNDS} rounds after one untimed ${WARM_SECONDS} s round of each path; a round runs the four paths once each, a fresh app or queue for each, ` +
        'in an order reversed every other round, so that library and anchor alternate. p50 and p99 per round over the ' +
        `${Math.round(RATE * SECONDS)} items of the round; cells: median (min–max) over the rounds; targets judged on the median of the per-round ` +
        `paired differences (library − anchor of the same round). Node ${process.version}, ${cpus().length} CPUs shared by redis-server and this ` +
        `process; load average ${fmt(load)} at the start.`,
      markdown: table(['path', 'rounds', 'p50 lateness, ms', 'p99 lateness, ms'], rows),
      targets: [
        target('memory backend', 'a hand-written `setTimeout` per item', 'memory library', 'memory anchor'),
        target('BullMQ backend', 'raw BullMQ `Queue.add(…, { delay })` → `Worker`', 'bullmq library', 'bullmq raw'),
      ],
    };
  } finally {
    await redis.stop();
  }
}
