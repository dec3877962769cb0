/**
 * Figure 5b — the BullMQ backend against raw BullMQ, end to end, on one throw-away redis-server.
 *
 * Throughput: N no-op jobs produced and consumed, timed together as a producer sees them: the
 * library enqueues through `WorkQueue.enqueue` (the `@InjectQueue` token of a
 * `registerQueue({ backend: { type: 'bullmq', connection } })` queue) and consumes with
 * `@QueueWorker`; raw BullMQ adds with `Queue.add` (one item per call: neither
 * side batches) and consumes with a `Worker` of the same concurrency and job retention. Both
 * producers keep the same number of adds in flight. Raw and library rounds alternate (ABBA…), the
 * target is judged on the median of the per-round paired ratios (library / raw of the same pair).
 * CPU per job: `process.cpuUsage` of every process that produced or consumed (this one, and the
 * worker processes in the process rows), over the round.
 *
 * Enqueue options (1 process, the same method): `enqueue(item, { priority })`, `{ id }` (every id
 * unique; and every id enqueued twice at once, half the calls duplicates), `{ delayMs: 1 }`, and
 * `enqueueMany` in batches, each beside raw `Queue.add` / `addBulk` with the options the library
 * hands BullMQ for them.
 *
 * Latency: jobs enqueued at a steady 200/s in this process, each carrying `performance.now()`
 * read just before the `enqueue` / `add` call; the handler (in this process too: one clock)
 * records its start minus that.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { cpus, loadavg } from 'node:os';
import { getQueueToken, HostingModule, QueueWorker, type WorkQueue } from '../src/index.js';
import { spawnChildApp, type ChildApp } from '../test/support/child-app.js';
import { fixture } from '../test/support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';
import { fmt, median, percentile, sized, sleep, spread, table, type BenchResult, type BenchTarget } from './bench-result.js';

/** Jobs per throughput round. */
const JOBS = sized(20_000, 200);
/** Throughput rounds per side, alternated. */
const ROUNDS = sized(8, 2);
/** Rounds per side in the worker-process rows (the children stay up across them). */
const PROCESS_ROUNDS = sized(5, 1);
const PROCESSES = sized([1, 2, 4], [1, 2]);
const CONCURRENCY = 16;
/** Adds (enqueues) each producer keeps in flight. */
const WINDOW = 100;
/** Latency: steady rate, seconds per round, rounds per side. */
const RATE = 200;
const LATENCY_SECONDS = sized(5, 0.5);
const LATENCY_ROUNDS = sized(5, 1);
/** Rounds per side of each enqueue-option case (1 process). */
const OPTION_ROUNDS = sized(5, 1);
/** Items per `enqueueMany` / `addBulk` call, and such calls kept in flight (the same items in flight as `WINDOW` single adds). */
const BATCH = 50;
const BATCH_WINDOW = WINDOW / BATCH;
/** The delay of the `delayMs` case: the smallest, so that the round measures the delayed path, not the wait. */
const DELAY_MS = 1;
/** Targets. */
const RATIO_TARGET = 0.95;
const OPTION_RATIO_TARGET = 0.9;
const LATENCY_MARGIN_MS = 0.5;

const RAW_WORKER = 'bullmq-bench-raw-worker.ts';
const LIBRARY_WORKER = 'bullmq-bench-worker.ts';
const KEEP = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 10_000 } };

type Side = 'raw' | 'library';

/** What each handler reports: the item it got. */
interface Sink {
  hit(item: unknown): void;
}
let sink: Sink = { hit: () => undefined };

/** A producer and a consumer of one side on one queue, in this process. */
interface Pair {
  add(item: unknown): Promise<unknown>;
  close(): Promise<void>;
  /** The library's queue (library side). */
  workQueue?: WorkQueue<unknown>;
  /** BullMQ's queue (raw side). */
  queue?: Queue;
}

let queueCounter = 0;
/**
 * A fresh queue name for one side. Both sides' names have the same length: the name is in every
 * Redis key a job's commands carry, so a longer one would cost its side bytes on every command.
 */
const queueName = (side: Side, what = '') => `bench-${side === 'raw' ? 'raw' : 'lib'}${what}-${process.pid}-${++queueCounter}`;

/** The library: a Nest app with the queue registered on the bullmq backend and a `@QueueWorker`. */
async function libraryPair(redis: RedisServerHandle, name: string): Promise<Pair> {
  @Injectable()
  class BenchWorker {
    @QueueWorker(name, { concurrency: CONCURRENCY })
    async handle(item: unknown): Promise<void> {
      sink.hit(item);
    }
  }
  @Module({
    imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name, backend: { type: 'bullmq', connection: redis.url } })],
    providers: [BenchWorker],
  })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
  const queue = app.get<WorkQueue<unknown>>(getQueueToken(name));
  return { add: (item) => queue.enqueue(item), close: () => app.close(), workQueue: queue };
}

/** Raw BullMQ: a `Queue` and a `Worker` with the same concurrency and retention. */
async function rawPair(redis: RedisServerHandle, name: string): Promise<Pair> {
  const connection = { host: redis.host, port: redis.port };
  const queue = new Queue(name, { connection });
  const worker = new Worker(
    name,
    async (job) => {
      sink.hit(job.data);
    },
    { connection, concurrency: CONCURRENCY, ...KEEP },
  );
  queue.on('error', () => undefined);
  worker.on('error', () => undefined);
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  return {
    add: (item) => queue.add(name, item),
    queue,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}

/** Calls `add(i)` for i < n with at most `window` calls in flight; resolves when every one has. */
function produce(n: number, add: (i: number) => Promise<unknown>, window = WINDOW): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    const launch = () => {
      const i = next++;
      add(i).then(() => {
        if (++done === n) resolve();
        else if (next < n) launch();
      }, reject);
    };
    for (let k = 0; k < Math.min(window, n); k++) launch();
  });
}

interface Round {
  jobsPerSecond: number;
  cpuMicrosPerJob: number;
}

/** Waits until a worker is registered in Redis on `name` (`count` of them). */
async function workersUp(admin: Queue, count: number): Promise<void> {
  while ((await admin.getWorkersCount()) < count) await sleep(10);
}

/**
 * An enqueue-option case of the 1-process rows: producer call `i` on each side, the raw one with the
 * options the library hands BullMQ for the library's call. A round is `JOBS` items enqueued.
 */
interface OptionCase {
  /** The call on each side, as the row names it. */
  library: string;
  raw: string;
  enqueue(queue: WorkQueue<unknown>, i: number): Promise<unknown>;
  add(queue: Queue, name: string, i: number): Promise<unknown>;
  /** Producer calls per round, and how many are kept in flight. */
  calls: number;
  window: number;
  /** Jobs the handler sees per round (fewer than `JOBS` when half the enqueues are duplicates). */
  handled: number;
}

const priorityOf = (i: number) => 1 + (i % 8);
const batchOf = (i: number) => Array.from({ length: BATCH }, (_, k) => i * BATCH + k);
const OPTION_CASES: OptionCase[] = [
  {
    library: '`enqueue(item, { priority })`',
    raw: '`Queue.add(name, item, { priority })`',
    enqueue: (queue, i) => queue.enqueue(i, { priority: priorityOf(i) }),
    add: (queue, name, i) => queue.add(name, i, { priority: priorityOf(i) }),
    calls: JOBS,
    window: WINDOW,
    handled: JOBS,
  },
  {
    library: '`enqueue(item, { id })`, every id new',
    raw: '`Queue.add(name, item, { jobId: id, removeOnComplete: true })`',
    enqueue: (queue, i) => queue.enqueue(i, { id: `u-${i}` }),
    add: (queue, name, i) => queue.add(name, i, { jobId: `u-${i}`, removeOnComplete: true }),
    calls: JOBS,
    window: WINDOW,
    handled: JOBS,
  },
  {
    library: '`enqueue(item, { id })`, each id enqueued twice at once (half the enqueues duplicates)',
    raw: '`Queue.add(name, item, { jobId: id, removeOnComplete: true })`, each id twice at once',
    enqueue: (queue, i) => Promise.all([queue.enqueue(i, { id: `d-${i}` }), queue.enqueue(i, { id: `d-${i}` })]),
    add: (queue, name, i) =>
      Promise.all([queue.add(name, i, { jobId: `d-${i}`, removeOnComplete: true }), queue.add(name, i, { jobId: `d-${i}`, removeOnComplete: true })]),
    calls: JOBS / 2,
    window: WINDOW / 2,
    handled: JOBS / 2,
  },
  {
    library: `\`enqueue(item, { delayMs: ${DELAY_MS} })\``,
    raw: `\`Queue.add(name, item, { delay: ${DELAY_MS} })\``,
    enqueue: (queue, i) => queue.enqueue(i, { delayMs: DELAY_MS }),
    add: (queue, name, i) => queue.add(name, i, { delay: DELAY_MS }),
    calls: JOBS,
    window: WINDOW,
    handled: JOBS,
  },
  {
    library: `\`enqueueMany(items)\`, ${BATCH} items a call`,
    raw: `\`Queue.addBulk(jobs)\`, ${BATCH} jobs a call`,
    enqueue: (queue, i) => queue.enqueueMany(batchOf(i)),
    add: (queue, name, i) => queue.addBulk(batchOf(i).map((data) => ({ name, data }))),
    calls: JOBS / BATCH,
    window: BATCH_WINDOW,
    handled: JOBS,
  },
];

/**
 * One in-process round: the side's app/worker starts, then `JOBS` jobs are produced and consumed
 * under the clock: one `enqueue` / `add` each, or `option`'s calls.
 */
async function inProcessRound(redis: RedisServerHandle, side: Side, option?: OptionCase): Promise<Round> {
  const name = queueName(side);
  const admin = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  admin.on('error', () => undefined);
  const pair = side === 'raw' ? await rawPair(redis, name) : await libraryPair(redis, name);
  try {
    await workersUp(admin, 1);
    let handled = 0;
    let allHandled!: () => void;
    const finished = new Promise<void>((resolve) => (allHandled = resolve));
    const toHandle = option?.handled ?? JOBS;
    sink = { hit: () => void (++handled === toHandle && allHandled()) };
    const produced = !option
      ? () => produce(JOBS, (i) => pair.add(i))
      : side === 'raw'
        ? () => produce(option.calls, (i) => option.add(pair.queue!, name, i), option.window)
        : () => produce(option.calls, (i) => option.enqueue(pair.workQueue!, i), option.window);
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all([produced(), finished]);
    const seconds = (performance.now() - started) / 1_000;
    const used = process.cpuUsage(cpu);
    return { jobsPerSecond: JOBS / seconds, cpuMicrosPerJob: (used.user + used.system) / JOBS };
  } finally {
    sink = { hit: () => undefined };
    await pair.close();
    await admin.obliterate({ force: true }).catch(() => undefined);
    await admin.close();
  }
}

/** Worker processes of one side, kept up across rounds on their own queue. */
interface ProcessSide {
  name: string;
  admin: Queue;
  children: ChildApp[];
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

let cpuQuery = 0;
async function startProcesses(redis: RedisServerHandle, side: Side, count: number): Promise<ProcessSide> {
  const name = queueName(side, `-p${count}`);
  const admin = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  admin.on('error', () => undefined);
  const entry = fixture(side === 'raw' ? RAW_WORKER : LIBRARY_WORKER);
  const children = Array.from({ length: count }, () =>
    spawnChildApp(entry, { env: { REDIS_URL: redis.url, QUEUE: name, CONCURRENCY: String(CONCURRENCY) } }),
  );
  const stop = async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exited));
    await admin.obliterate({ force: true }).catch(() => undefined);
    await admin.close();
  };
  try {
    await Promise.all(children.map((child) => child.waitForOutput(/^READY \d+$/m, 60_000)));
    await workersUp(admin, count);
  } catch (error) {
    await stop();
    throw error;
  }
  const cpu = async () => {
    const seq = ++cpuQuery;
    const answers = children.map((child) => child.waitForOutput(new RegExp(`^CPU ${seq} (\\d+)$`, 'm'), 10_000));
    for (const child of children) child.proc.stdin!.write(`CPU ${seq}\n`);
    return (await Promise.all(answers)).reduce((sum, match) => sum + Number(match[1]), 0);
  };
  return { name, admin, children, cpu, stop };
}

/** One round on worker processes: this process produces with `Queue.add` or `WorkQueue.enqueue`, timed until Redis holds nothing waiting or active. */
async function processRound(side: ProcessSide, add: (i: number) => Promise<unknown>): Promise<Round> {
  const childCpu = await side.cpu();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await produce(JOBS, add);
  for (;;) {
    const counts = await side.admin.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    if (Object.values(counts).every((n) => n === 0)) break;
    await sleep(5);
  }
  const seconds = (performance.now() - started) / 1_000;
  const used = process.cpuUsage(cpu);
  const children = (await side.cpu()) - childCpu;
  return { jobsPerSecond: JOBS / seconds, cpuMicrosPerJob: (used.user + used.system + children) / JOBS };
}

/** A producer in this process for a queue whose workers run elsewhere: raw `Queue.add`, or the library's `WorkQueue` with no worker. */
async function producerFor(redis: RedisServerHandle, side: Side, name: string): Promise<Pair> {
  if (side === 'raw') {
    const queue = new Queue(name, { connection: { host: redis.host, port: redis.port } });
    queue.on('error', () => undefined);
    await queue.waitUntilReady();
    return { add: (item) => queue.add(name, item), close: () => queue.close() };
  }
  @Module({ imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name, backend: { type: 'bullmq', connection: redis.url } })] })
  class ProducerModule {}
  const app = await NestFactory.createApplicationContext(ProducerModule, { logger: ['error', 'warn'] });
  const queue = app.get<WorkQueue<unknown>>(getQueueToken(name));
  return { add: (item) => queue.enqueue(item), close: () => app.close() };
}

interface Latency {
  p50: number;
  p90: number;
  p99: number;
}

/** One latency round: RATE jobs/s for LATENCY_SECONDS, each job's handler start minus the instant before its add. */
async function latencyRound(redis: RedisServerHandle, side: Side): Promise<Latency> {
  const name = queueName(side, '-lat');
  const admin = new Queue(name, { connection: { host: redis.host, port: redis.port } });
  admin.on('error', () => undefined);
  const pair = side === 'raw' ? await rawPair(redis, name) : await libraryPair(redis, name);
  try {
    await workersUp(admin, 1);
    const total = Math.round(RATE * LATENCY_SECONDS);
    const latencies: number[] = [];
    let allHandled!: () => void;
    const finished = new Promise<void>((resolve) => (allHandled = resolve));
    sink = {
      hit: (item) => {
        latencies.push(performance.now() - (item as { t: number }).t);
        if (latencies.length === total) allHandled();
      },
    };
    // A fixed-rate loop: job i is due at start + i × period; a late timer catches up.
    const period = 1_000 / RATE;
    const start = performance.now();
    const adds: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * period - performance.now();
      if (wait > 0) await sleep(wait);
      adds.push(pair.add({ i, t: performance.now() }));
    }
    await Promise.all([...adds, finished]);
    return { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99) };
  } finally {
    sink = { hit: () => undefined };
    await pair.close();
    await admin.obliterate({ force: true }).catch(() => undefined);
    await admin.close();
  }
}

/** Runs `round(side)` for both sides, `rounds` times each, alternating which goes first (ABBA…). */
async function alternate<R>(rounds: number, round: (side: Side) => Promise<R>): Promise<Record<Side, R[]>> {
  const results: Record<Side, R[]> = { raw: [], library: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Side[] = r % 2 === 0 ? ['raw', 'library'] : ['library', 'raw'];
    for (const side of order) results[side].push(await round(side));
  }
  return results;
}

const rate = (values: number[]) => spread(values.map((v) => v / 1_000), 1);
const pct = (values: number[]) => spread(values.map((v) => v * 100), 1);
const ratios = (library: Round[], raw: Round[]) => library.map((l, i) => l.jobsPerSecond / raw[i].jobsPerSecond);

export async function run(): Promise<BenchResult> {
  const load = loadavg()[0];
  const redis = await startRedisServer();
  try {
    // Warm-up (not recorded): the first round of a fresh process pays for loading and compiling.
    await inProcessRound(redis, 'raw');
    await inProcessRound(redis, 'library');
    const inProcess = await alternate(ROUNDS, (side) => inProcessRound(redis, side));
    const inRatios = ratios(inProcess.library, inProcess.raw);
    const rows: Array<Array<string | number>> = [];
    const cpu = (rounds: Round[]) => spread(rounds.map((r) => r.cpuMicrosPerJob), 1);
    rows.push(
      [`raw \`Queue.add\` → \`Worker\` (anchor), 1 process`, ROUNDS, rate(inProcess.raw.map((r) => r.jobsPerSecond)), '100', cpu(inProcess.raw)],
      [`\`WorkQueue.enqueue\` → \`@QueueWorker\`, 1 process`, ROUNDS, rate(inProcess.library.map((r) => r.jobsPerSecond)), pct(inRatios), cpu(inProcess.library)],
    );

    // Enqueue options, 1 process: each case's rounds alternate raw and library, as above.
    const optionRatios: number[][] = [];
    for (const option of OPTION_CASES) {
      const result = await alternate(OPTION_ROUNDS, (side) => inProcessRound(redis, side, option));
      optionRatios.push(ratios(result.library, result.raw));
      rows.push(
        [`raw ${option.raw} → \`Worker\` (anchor), 1 process`, OPTION_ROUNDS, rate(result.raw.map((r) => r.jobsPerSecond)), '100', cpu(result.raw)],
        [`${option.library} → \`@QueueWorker\`, 1 process`, OPTION_ROUNDS, rate(result.library.map((r) => r.jobsPerSecond)), pct(optionRatios.at(-1)!), cpu(result.library)],
      );
    }

    // Worker processes: this process produces, `count` processes consume; both sides' workers stay up across their rounds.
    const processRatios: Record<number, number[]> = {};
    for (const count of PROCESSES) {
      const raw = await startProcesses(redis, 'raw', count);
      const library = await startProcesses(redis, 'library', count).catch(async (error: unknown) => {
        await raw.stop();
        throw error;
      });
      const producers = { raw: await producerFor(redis, 'raw', raw.name), library: await producerFor(redis, 'library', library.name) };
      try {
        const result = await alternate(PROCESS_ROUNDS, (side) => processRound(side === 'raw' ? raw : library, (i) => producers[side].add(i)));
        processRatios[count] = ratios(result.library, result.raw);
        const each = count > 1 ? ` (concurrency ${CONCURRENCY} each)` : '';
        rows.push(
          [`raw \`Queue.add\` → ${count} raw \`Worker\` process${count > 1 ? 'es' : ''}${each} (anchor)`, PROCESS_ROUNDS, rate(result.raw.map((r) => r.jobsPerSecond)), '100', cpu(result.raw)],
          [`\`WorkQueue.enqueue\` → ${count} \`@QueueWorker\` process${count > 1 ? 'es' : ''}${each}`, PROCESS_ROUNDS, rate(result.library.map((r) => r.jobsPerSecond)), pct(processRatios[count]), cpu(result.library)],
        );
      } finally {
        await producers.raw.close();
        await producers.library.close();
        await raw.stop();
        await library.stop();
      }
    }

    const latency = await alternate(LATENCY_ROUNDS, (side) => latencyRound(redis, side));
    const diff = (key: keyof Latency) => latency.library.map((l, i) => l[key] - latency.raw[i][key]);
    const ms = (values: number[]) => spread(values, 2);
    const latencyRows = (['raw', 'library'] as const).map((side) => [
      side === 'raw' ? 'raw `Queue.add` → `Worker` processor (anchor)' : '`WorkQueue.enqueue` → `@QueueWorker` handler',
      LATENCY_ROUNDS,
      ms(latency[side].map((l) => l.p50)),
      ms(latency[side].map((l) => l.p90)),
      ms(latency[side].map((l) => l.p99)),
    ]);
    latencyRows.push(['library − raw (per-round paired difference)', LATENCY_ROUNDS, ms(diff('p50')), ms(diff('p90')), ms(diff('p99'))]);

    const ratio = median(inRatios);
    const p50Diff = median(diff('p50'));
    const p99Diff = median(diff('p99'));
    const perRound = (values: number[], f: (v: number) => string) => values.map(f).join(', ');
    const optionMedians = optionRatios.map((r) => median(r));
    const optionJudged = OPTION_CASES.map((option, i) => ({ option, i })).filter(({ option }) => !option.library.startsWith('`enqueueMany'));
    const lowestOption = optionJudged.reduce((a, b) => (optionMedians[b.i] < optionMedians[a.i] ? b : a));
    const optionMet = optionMedians[lowestOption.i] >= OPTION_RATIO_TARGET;
    const bulk = OPTION_CASES.length - 1;
    const bulkMet = optionMedians[bulk] >= OPTION_RATIO_TARGET;
    const pctOf = (v: number) => `${fmt(v * 100, 1)}%`;
    const targets: BenchTarget[] = [
      {
        target: `end-to-end throughput of \`WorkQueue.enqueue\` → \`@QueueWorker\` on BullMQ ≥ ${RATIO_TARGET * 100}% of raw \`Queue.add\` → \`Worker\` (median of the per-round paired ratios, 1 process)`,
        measured: `${fmt(ratio * 100, 1)}% (rounds: ${fmt(Math.min(...inRatios) * 100, 1)}–${fmt(Math.max(...inRatios) * 100, 1)}%)`,
        met: ratio >= RATIO_TARGET,
        ...(ratio < RATIO_TARGET && { gap: `per-round ratios of this run: ${perRound(inRatios, (v) => `${fmt(v * 100, 1)}%`)}` }),
      },
      {
        target:
          `with enqueue options — \`{ priority }\`, \`{ id }\` (new ids; half duplicates), \`{ delayMs: ${DELAY_MS} }\` — each case's throughput ≥ ${OPTION_RATIO_TARGET * 100}% ` +
          'of raw BullMQ with the same options (median of the per-round paired ratios, 1 process; judged on the lowest case)',
        measured: `${optionJudged.map(({ option, i }) => `${option.library}: ${pctOf(optionMedians[i])}`).join('; ')}`,
        met: optionMet,
        ...(!optionMet && { gap: `per-round ratios of ${lowestOption.option.library}: ${perRound(optionRatios[lowestOption.i], pctOf)}` }),
      },
      {
        target: `\`enqueueMany\` (${BATCH} items a call) throughput ≥ ${OPTION_RATIO_TARGET * 100}% of raw \`Queue.addBulk\` with the same batches (median of the per-round paired ratios, 1 process)`,
        measured: `${pctOf(optionMedians[bulk])} (rounds: ${pctOf(Math.min(...optionRatios[bulk]))}–${pctOf(Math.max(...optionRatios[bulk]))})`,
        met: bulkMet,
        ...(!bulkMet && { gap: `per-round ratios of this run: ${perRound(optionRatios[bulk], pctOf)}` }),
      },
      {
        target: `BullMQ enqueue → handler-start latency at ${RATE} jobs/s: library p50 and p99 within ${LATENCY_MARGIN_MS} ms of raw BullMQ (median of the per-round paired differences)`,
        measured: `p50 ${p50Diff >= 0 ? '+' : ''}${fmt(p50Diff)} ms, p99 ${p99Diff >= 0 ? '+' : ''}${fmt(p99Diff)} ms`,
        met: p50Diff <= LATENCY_MARGIN_MS && p99Diff <= LATENCY_MARGIN_MS,
        ...(!(p50Diff <= LATENCY_MARGIN_MS && p99Diff <= LATENCY_MARGIN_MS) && {
          gap: `per-round differences of this run: p50 ${perRound(diff('p50'), (v) => fmt(v))} ms; p99 ${perRound(diff('p99'), (v) => fmt(v))} ms`,
        }),
      },
    ];

    return {
      title: '5b. BullMQ backend against raw BullMQ',
      method:
        `Throughput, end to end: ${JOBS.toLocaleString('en-US')} no-op jobs per round, produced and consumed under one clock. ` +
        'The library enqueues through `WorkQueue.enqueue` (the `getQueueToken` queue of `registerQueue({ backend: { type: \'bullmq\', connection } })`) ' +
        'and consumes with `@QueueWorker`; the anchor adds with `Queue.add` (one item per call: neither side batches) and consumes ' +
        `with a raw \`Worker\`; both at concurrency ${CONCURRENCY}, with the same job retention, each producer keeping ${WINDOW} adds in flight. ` +
        `In "1 process" rows the producer and the consumer share this process and a round ends when the handler has seen every job; ` +
        `${ROUNDS} rounds per side after one warm-up round each. In the worker-process rows this process produces and the workers ` +
        `(started once per row, kept across its ${PROCESS_ROUNDS} rounds per side) consume; a round ends when Redis holds no job waiting or active. ` +
        'Raw and library rounds alternate (ABBA…); "of raw" is the per-round paired ratio (library / raw); the throughput target is judged on its median. ' +
        'CPU µs/job: `process.cpuUsage` of every process that produced or consumed, over the round. ' +
        `Enqueue options (1 process, the same method, ${OPTION_ROUNDS} rounds per side per case, no warm-up of their own): ` +
        `${JOBS.toLocaleString('en-US')} items a round, the library's call beside raw BullMQ's with the options the library hands BullMQ for it ` +
        '(an `id` is BullMQ\'s `jobId`, and a job with one is removed as it completes so that the id frees); priorities cycle through 1–8; ' +
        `the duplicates case enqueues each id twice at once (${(WINDOW / 2).toLocaleString('en-US')} pairs in flight), its rate counting every enqueue, ` +
        `and its round ends when the handler has seen each id once; the delay is ${DELAY_MS} ms, so the round measures BullMQ's delayed path ` +
        `(the delayed set and its promotion), not the wait; \`enqueueMany\` and \`addBulk\` take ${BATCH} items a call, ${BATCH_WINDOW} calls in flight. ` +
        `Latency: ${RATE} jobs/s for ${LATENCY_SECONDS} s per round, ${LATENCY_ROUNDS} rounds per side alternated, producer and worker in this process ` +
        '(one clock): the job carries `performance.now()` read just before the `enqueue` / `add` call, the handler records its start minus that; ' +
        'p50/p90/p99 per round, the target judged on the median of the per-round paired differences. ' +
        `All on one local redis-server (127.0.0.1); Node ${process.version}, ${cpus().length} CPUs shared by redis-server, this process and the workers; ` +
        `load average ${fmt(load)} at the start. Cells: median (min–max) over the rounds.`,
      markdown: [
        table(['case', 'rounds', 'k jobs/s', 'of raw, %', 'CPU µs/job'], rows),
        '',
        `Enqueue → handler-start latency at ${RATE} jobs/s (ms):`,
        '',
        table(['path', 'rounds', 'p50', 'p90', 'p99'], latencyRows),
      ].join('\n'),
      targets,
    };
  } finally {
    await redis.stop();
  }
}
