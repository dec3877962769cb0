/**
 * Jobs per second through a `@QueueWorker` on the BullMQ backend against a raw BullMQ `Worker`
 * with the same concurrency, on the same throw-away redis-server, in one run; then the library
 * with 1, 2 and 4 worker processes (test/fixtures/bullmq-bench-worker.ts).
 *
 * Method: the queue is filled while paused, the consumers start and connect, then the queue is
 * resumed and timed until nothing is waiting or active. Handlers do nothing, so the figures are
 * the queue's own cost (Redis round trips dominate). Raw and library rounds alternate and the
 * median is kept, so drift on a busy machine hits both sides alike.
 *
 *   node -r ./test/support/child-loader/register-cjs.cjs bench/bullmq.bench.ts   (standalone)
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { cpus } from 'node:os';
import { HostingModule, QueueWorker } from '../src/index.js';
import { spawnChildApp, type ChildApp } from '../test/support/child-app.js';
import { fixture } from '../test/support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';

export interface BullMqBenchOptions {
  /** Jobs per measured round. @default 20000 */
  jobs?: number;
  /** Worker concurrency, the same for raw BullMQ and the library. @default 16 */
  concurrency?: number;
  /** Rounds per side (raw, library), alternated; the median is reported. @default 3 */
  rounds?: number;
  /** Worker process counts for the multi-process figures. @default [1, 2, 4] */
  processes?: number[];
}

export interface BullMqBenchRow {
  case: string;
  jobsPerSecond: number;
  /** Against raw BullMQ in one process. */
  ofRaw?: number;
  /** CPU time of the consuming process per job, in microseconds (in-process cases only): less sensitive to a busy machine than wall time. */
  cpuMicrosPerJob?: number;
}

export interface BullMqBenchResult {
  name: string;
  rows: BullMqBenchRow[];
  /** Library throughput over raw BullMQ's, same process count and concurrency. Target ≥ 0.9. */
  ratio: number;
  markdown: string;
}

/** Stops what a round started. */
type Stop = () => Promise<void>;

const RAW_WORKER = 'bullmq-bench-raw-worker.ts';
const LIBRARY_WORKER = 'bullmq-bench-worker.ts';
const KEEP = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 10_000 } };
let queueCounter = 0;

export async function run(options: BullMqBenchOptions = {}): Promise<BullMqBenchResult> {
  const { jobs = 20_000, concurrency = 16, rounds = 5, processes = [1, 2, 4] } = options;
  const redis = await startRedisServer();
  try {
    const raw: Drain[] = [];
    const library: Drain[] = [];
    // Alternate which side goes first (ABBA…), so a warming or busier machine favours neither.
    for (let round = 0; round < rounds; round++) {
      const sides = [
        async () => raw.push(await timeDrain(redis, jobs, 1, (queue) => rawWorker(redis, queue, concurrency))),
        async () => library.push(await timeDrain(redis, jobs, 1, (queue) => libraryWorker(redis, queue, concurrency))),
      ];
      if (round % 2 === 1) sides.reverse();
      for (const side of sides) await side();
    }
    const rawRate = median(raw.map((d) => d.jobsPerSecond));
    const libraryRate = median(library.map((d) => d.jobsPerSecond));
    const rows: BullMqBenchRow[] = [
      { case: `raw BullMQ Worker, 1 process, concurrency ${concurrency}`, jobsPerSecond: rawRate, ofRaw: 1, cpuMicrosPerJob: median(raw.map((d) => d.cpuMicrosPerJob)) },
      {
        case: `@QueueWorker (bullmq backend), 1 process, concurrency ${concurrency}`,
        jobsPerSecond: libraryRate,
        ofRaw: libraryRate / rawRate,
        cpuMicrosPerJob: median(library.map((d) => d.cpuMicrosPerJob)),
      },
    ];
    // Worker processes: raw and library once more side by side (alternated, median), then the library on 2, 4, … processes.
    const rawChild: number[] = [];
    const libraryChild: number[] = [];
    for (let round = 0; round < rounds; round++) {
      rawChild.push((await timeDrain(redis, jobs, 1, (queue) => workerProcesses(RAW_WORKER, redis, queue, concurrency, 1))).jobsPerSecond);
      libraryChild.push((await timeDrain(redis, jobs, 1, (queue) => workerProcesses(LIBRARY_WORKER, redis, queue, concurrency, 1))).jobsPerSecond);
    }
    const rawChildRate = median(rawChild);
    rows.push({ case: `raw BullMQ Worker, 1 worker process, concurrency ${concurrency}`, jobsPerSecond: rawChildRate, ofRaw: rawChildRate / rawRate });
    for (const count of processes) {
      const { jobsPerSecond } =
        count === 1
          ? { jobsPerSecond: median(libraryChild) }
          : await timeDrain(redis, jobs, count, (queue) => workerProcesses(LIBRARY_WORKER, redis, queue, concurrency, count));
      rows.push({
        case: `@QueueWorker (bullmq backend), ${count} worker process${count > 1 ? 'es' : ''}, concurrency ${concurrency} each`,
        jobsPerSecond,
        ofRaw: jobsPerSecond / rawRate,
      });
    }
    const ratio = libraryRate / rawRate;
    return { name: 'bullmq', rows, ratio, markdown: table(rows, jobs, rounds) };
  } finally {
    await redis.stop();
  }
}

interface Drain {
  jobsPerSecond: number;
  /** CPU time of this process per job (consumers in this process; the poller is in both sides). */
  cpuMicrosPerJob: number;
}

/** Fills a paused queue, starts the consumers, resumes, and times until nothing waits or runs. */
async function timeDrain(redis: RedisServerHandle, jobs: number, consumers: number, start: (queue: string) => Promise<Stop>): Promise<Drain> {
  const name = `bench-${process.pid}-${++queueCounter}`;
  const queue = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  queue.on('error', () => undefined);
  await queue.pause();
  for (let offset = 0; offset < jobs; offset += 1_000) {
    const size = Math.min(1_000, jobs - offset);
    await queue.addBulk(Array.from({ length: size }, (_, i) => ({ name, data: offset + i })));
  }
  const stop = await start(name);
  try {
    while ((await queue.getWorkersCount()) < consumers) await sleep(10);
    const started = performance.now();
    const cpu = process.cpuUsage();
    await queue.resume();
    for (;;) {
      const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) break;
      await sleep(5);
    }
    const used = process.cpuUsage(cpu);
    return { jobsPerSecond: jobs / ((performance.now() - started) / 1_000), cpuMicrosPerJob: (used.user + used.system) / jobs };
  } finally {
    await stop();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

async function rawWorker(redis: RedisServerHandle, queue: string, concurrency: number): Promise<Stop> {
  const worker = new Worker(queue, async () => undefined, { connection: { host: redis.host, port: redis.port }, concurrency, ...KEEP });
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  return () => worker.close();
}

async function libraryWorker(redis: RedisServerHandle, queue: string, concurrency: number): Promise<Stop> {
  @Injectable()
  class NoopWorker {
    @QueueWorker(queue, { concurrency })
    async handle(): Promise<void> {}
  }
  @Module({
    imports: [HostingModule.forRoot({ redis: redis.url }), HostingModule.registerQueue({ name: queue, backend: 'bullmq' })],
    providers: [NoopWorker],
  })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
  return () => app.close();
}

async function workerProcesses(entry: string, redis: RedisServerHandle, queue: string, concurrency: number, count: number): Promise<Stop> {
  const children: ChildApp[] = Array.from({ length: count }, () =>
    spawnChildApp(fixture(entry), { env: { REDIS_URL: redis.url, QUEUE: queue, CONCURRENCY: String(concurrency) } }),
  );
  await Promise.all(children.map((child) => child.waitForOutput(/^READY \d+$/m, 60_000)));
  return async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exited));
  };
}

function table(rows: BullMqBenchRow[], jobs: number, rounds: number): string {
  const lines = [
    `BullMQ backend: ${jobs} no-op jobs per round, median of ${rounds} alternated rounds (2 and more worker processes: one round each); Node ${process.version}, ${cpus().length} CPUs, local redis-server ${'(the same Redis for every case)'}.`,
    '',
    '| case | jobs/s | of raw BullMQ | CPU µs/job (this process) |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${Math.round(r.jobsPerSecond).toLocaleString('en-US')} | ${r.ofRaw === undefined ? '' : `${(r.ofRaw * 100).toFixed(1)}%`} | ${
          r.cpuMicrosPerJob === undefined ? '' : r.cpuMicrosPerJob.toFixed(1)
        } |`,
    ),
    '',
    // Only what this run measured and how it ran; no explanation it did not test.
    `One redis-server, this process and the worker processes shared ${cpus().length} CPUs; the jobs do nothing.`,
  ];
  return lines.join('\n');
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

if (process.argv[1]?.endsWith('bullmq.bench.ts')) {
  run().then(
    (result) => {
      process.stdout.write(`${result.markdown}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
