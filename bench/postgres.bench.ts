/**
 * Figure 15 — durable on PostgreSQL: the library on BullMQ's PostgreSQL backend against raw BullMQ
 * on the same backend, enqueue → start latency beside Redis, and the outbox's commit → start.
 *
 * Throughput (15a): N no-op jobs produced and consumed in this process, timed together as a
 * producer sees them: the library enqueues through `WorkQueue.enqueue` (a
 * `registerQueue({ backend: { type: 'bullmq', postgres } })` queue) and consumes with `@QueueWorker`;
 * raw BullMQ adds with `Queue.add` and consumes with a `Worker`, both built with
 * `createPostgresBackend` on the same database, the same concurrency, retention and adds in flight.
 * Raw and library rounds alternate (ABBA…); the target is judged on the median of the per-round
 * paired ratios.
 *
 * Latency (15b): jobs enqueued at a steady rate in this process, each carrying `performance.now()`
 * read just before the `enqueue` / `add` call; the handler (in this process: one clock) records its
 * start minus that. The same on Redis, for the side-by-side.
 *
 * Outbox (15c): an order row and its job committed in one transaction (PostgreSQL through `pg`,
 * SQLite through better-sqlite3), the job carrying `performance.now()` read just before COMMIT;
 * the handler records its start minus that.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import BetterSqlite3 from 'better-sqlite3';
import { createPostgresBackend, Queue, Worker } from 'bullmq';
import * as fs from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { getQueueToken, HostingModule, QueueWorker, type WorkQueue } from '../src/index.js';
import { startPostgresServer, type PostgresServerHandle } from '../test/support/postgres-server.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';
import { fmt, median, percentile, sized, sleep, spread, table, type BenchResult, type BenchTarget } from './bench-result.js';

/** Jobs per throughput round. */
const JOBS = sized(5_000, 100);
/** Throughput rounds per side, alternated. */
const ROUNDS = sized(6, 1);
const CONCURRENCY = 16;
/** Adds (enqueues) each producer keeps in flight. */
const WINDOW = 50;
/** Latency: steady rate, seconds per round, rounds per side. */
const RATE = 100;
const LATENCY_SECONDS = sized(5, 0.3);
const LATENCY_ROUNDS = sized(4, 1);
const RATIO_TARGET = 0.9;
const KEEP = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 10_000 } };

type Side = 'raw' | 'library';
type Store = 'postgres' | 'redis';

interface Sink {
  hit(item: unknown): void;
}
let sink: Sink = { hit: () => undefined };

interface Pair {
  add(item: unknown): Promise<unknown>;
  close(): Promise<void>;
}

interface Servers {
  postgres: PostgresServerHandle;
  /** The database the queues live in. */
  pgUrl: string;
  redis: RedisServerHandle;
}

let queueCounter = 0;
/** A fresh queue name; both sides' names have the same length. */
const queueName = (side: Side) => `bench-${side === 'raw' ? 'raw' : 'lib'}-${process.pid}-${++queueCounter}`;

/** The library: a Nest app with the queue on the bullmq backend (PostgreSQL or Redis) and a `@QueueWorker`. */
async function libraryPair(servers: Servers, store: Store, name: string): Promise<Pair> {
  @Injectable()
  class BenchWorker {
    @QueueWorker(name, { concurrency: CONCURRENCY })
    async handle(item: unknown): Promise<void> {
      sink.hit(item);
    }
  }
  const backend = store === 'postgres' ? { type: 'bullmq' as const, postgres: servers.pgUrl } : { type: 'bullmq' as const, connection: servers.redis.url };
  @Module({ imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name, backend })], providers: [BenchWorker] })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
  const queue = app.get<WorkQueue<unknown>>(getQueueToken(name));
  return { add: (item) => queue.enqueue(item), close: () => app.close() };
}

/** Raw BullMQ: a `Queue` and a `Worker` on the same store, with the same concurrency and retention. */
async function rawPair(servers: Servers, store: Store, name: string): Promise<Pair> {
  const processor = async (job: { data: unknown }) => {
    sink.hit(job.data);
  };
  if (store === 'postgres') {
    const connection = { connectionString: servers.pgUrl, migrate: true };
    return started(name, new Queue(name, { connection }, createPostgresBackend), new Worker(name, processor, { connection, concurrency: CONCURRENCY, ...KEEP }, createPostgresBackend));
  }
  const connection = { host: servers.redis.host, port: servers.redis.port };
  return started(name, new Queue(name, { connection }), new Worker(name, processor, { connection, concurrency: CONCURRENCY, ...KEEP }));
}

/** What the raw side uses of a BullMQ `Queue` and `Worker`, on either store. */
interface RawQueue {
  add(name: string, data: unknown): Promise<unknown>;
  on(event: 'error', listener: () => void): unknown;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
type RawWorker = Pick<RawQueue, 'on' | 'waitUntilReady' | 'close'>;

async function started(name: string, queue: RawQueue, worker: RawWorker): Promise<Pair> {
  queue.on('error', () => undefined);
  worker.on('error', () => undefined);
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  return {
    add: (item) => queue.add(name, item),
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}

const pairOf = (servers: Servers, store: Store, side: Side, name: string) =>
  side === 'raw' ? rawPair(servers, store, name) : libraryPair(servers, store, name);

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

/** One round on PostgreSQL: the side's queue and worker start, then `JOBS` jobs are produced and consumed under the clock. */
async function throughputRound(servers: Servers, side: Side): Promise<Round> {
  const pair = await pairOf(servers, 'postgres', side, queueName(side));
  try {
    let handled = 0;
    let allHandled!: () => void;
    const finished = new Promise<void>((resolve) => (allHandled = resolve));
    sink = { hit: () => void (++handled === JOBS && allHandled()) };
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all([produce(JOBS, (i) => pair.add(i)), finished]);
    const seconds = (performance.now() - started) / 1_000;
    const used = process.cpuUsage(cpu);
    return { jobsPerSecond: JOBS / seconds, cpuMicrosPerJob: (used.user + used.system) / JOBS };
  } finally {
    sink = { hit: () => undefined };
    await pair.close();
  }
}

interface Latency {
  p50: number;
  p99: number;
}

/** Steady `RATE` jobs/s for `LATENCY_SECONDS`: each job's handler start minus the instant before `send(i, t)`. */
async function steadyLatency(
  send: (i: number, t: number) => Promise<unknown>,
  startOf: (item: unknown) => number = (item) => (item as { t: number }).t,
): Promise<Latency> {
  const total = Math.max(2, Math.round(RATE * LATENCY_SECONDS));
  const latencies: number[] = [];
  let allHandled!: () => void;
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  sink = {
    hit: (item) => {
      latencies.push(performance.now() - startOf(item));
      if (latencies.length === total) allHandled();
    },
  };
  try {
    // A fixed-rate loop: job i is due at start + i × period; a late timer catches up.
    const period = 1_000 / RATE;
    const start = performance.now();
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * period - performance.now();
      if (wait > 0) await sleep(wait);
      sends.push(send(i, performance.now()));
    }
    await Promise.all([...sends, finished]);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    sink = { hit: () => undefined };
  }
}

async function latencyRound(servers: Servers, store: Store, side: Side): Promise<Latency> {
  const pair = await pairOf(servers, store, side, queueName(side));
  try {
    return await steadyLatency((i, t) => pair.add({ i, t }));
  } finally {
    await pair.close();
  }
}

type OutboxStore = 'sqlite' | 'postgres';
/** How the job is enqueued: through the outbox, in the transaction; or directly after COMMIT (the anchor: not atomic). */
type OutboxSide = 'outbox' | 'after-commit';

/**
 * One outbox round: `RATE` orders/s for `LATENCY_SECONDS`, each an INSERT and its job committed
 * together (or, for the anchor, the job enqueued right after COMMIT); the job's handler start minus
 * the instant read just before COMMIT. A memory queue, so that what is measured is the outbox.
 */
async function outboxRound(servers: Servers, store: OutboxStore, side: OutboxSide): Promise<Latency> {
  const name = `bench-outbox-${++queueCounter}`;
  const dir = store === 'sqlite' ? fs.mkdtempSync(path.join(tmpdir(), 'nest-hosting-bench-outbox-')) : undefined;
  const db = dir ? new BetterSqlite3(path.join(dir, 'shop.sqlite')) : undefined;
  const pool = store === 'postgres' ? new pg.Pool({ connectionString: servers.pgUrl, max: 4 }) : undefined;
  pool?.on('error', () => undefined);
  if (db) {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE bench_orders (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
  } else await pool!.query('CREATE TABLE IF NOT EXISTS bench_orders (id serial PRIMARY KEY, n integer NOT NULL)');
  @Injectable()
  class OutboxWorker {
    @QueueWorker(name, { concurrency: CONCURRENCY })
    handle(item: unknown): void {
      sink.hit(item);
    }
  }
  @Module({
    imports: [HostingModule.forRoot({ outbox: db ? { sqlite: db } : { postgres: servers.pgUrl } }), HostingModule.registerQueue({ name })],
    providers: [OutboxWorker],
  })
  class OutboxModule {}
  const app = await NestFactory.createApplicationContext(OutboxModule, { logger: ['error', 'warn'] });
  const queue = app.get<WorkQueue<{ i: number }>>(getQueueToken(name));
  const committedAt = new Map<number, number>();
  const insert = db?.prepare('INSERT INTO bench_orders (n) VALUES (?)');
  const order = async (i: number): Promise<void> => {
    if (db) {
      db.transaction(() => {
        insert!.run(i);
        if (side === 'outbox') void queue.enqueue({ i }, { transaction: db });
        committedAt.set(i, performance.now()); // the function returns: better-sqlite3 commits
      })();
      if (side === 'after-commit') await queue.enqueue({ i });
      return;
    }
    const client = await pool!.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO bench_orders (n) VALUES ($1)', [i]);
      if (side === 'outbox') await queue.enqueue({ i }, { transaction: client });
      committedAt.set(i, performance.now());
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    if (side === 'after-commit') await queue.enqueue({ i });
  };
  try {
    return await steadyLatency(
      (i) => order(i),
      (item) => committedAt.get((item as { i: number }).i)!,
    );
  } finally {
    await app.close();
    await pool?.end();
    db?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
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

const rate = (values: number[]) => spread(values.map((v) => v / 1_000), 2);
const pctOf = (v: number) => `${fmt(v * 100, 1)}%`;
const ms = (values: number[]) => spread(values, 2);

export async function run(): Promise<BenchResult> {
  const load = loadavg()[0];
  const postgres = await startPostgresServer();
  const redis = await startRedisServer().catch(async (error: unknown) => {
    await postgres.destroy();
    throw error;
  });
  try {
    const servers: Servers = { postgres, redis, pgUrl: await postgres.createDatabase('bench') };
    // Warm-up (not recorded): the first round pays for loading, compiling and BullMQ's migrations.
    await throughputRound(servers, 'raw');
    await throughputRound(servers, 'library');
    const through = await alternate(ROUNDS, (side) => throughputRound(servers, side));
    const ratios = through.library.map((l, i) => l.jobsPerSecond / through.raw[i].jobsPerSecond);
    const cpu = (rounds: Round[]) => spread(rounds.map((r) => r.cpuMicrosPerJob), 1);
    const throughputRows = [
      ['raw `Queue.add` → `Worker`, `createPostgresBackend` (anchor)', ROUNDS, rate(through.raw.map((r) => r.jobsPerSecond)), '100', cpu(through.raw)],
      ['`WorkQueue.enqueue` → `@QueueWorker`, `backend: { type: \'bullmq\', postgres }`', ROUNDS, rate(through.library.map((r) => r.jobsPerSecond)), spread(ratios.map((r) => r * 100), 1), cpu(through.library)],
    ];

    const latencyRows: Array<Array<string | number>> = [];
    const diffs: Record<Store, { p50: number[]; p99: number[] }> = { postgres: { p50: [], p99: [] }, redis: { p50: [], p99: [] } };
    for (const store of ['postgres', 'redis'] as const) {
      const latency = await alternate(LATENCY_ROUNDS, (side) => latencyRound(servers, store, side));
      const storeName = store === 'postgres' ? 'PostgreSQL' : 'Redis';
      for (const side of ['raw', 'library'] as const) {
        latencyRows.push([
          side === 'raw' ? `${storeName}: raw \`Queue.add\` → \`Worker\` (anchor)` : `${storeName}: \`WorkQueue.enqueue\` → \`@QueueWorker\``,
          LATENCY_ROUNDS,
          ms(latency[side].map((l) => l.p50)),
          ms(latency[side].map((l) => l.p99)),
        ]);
      }
      diffs[store].p50 = latency.library.map((l, i) => l.p50 - latency.raw[i].p50);
      diffs[store].p99 = latency.library.map((l, i) => l.p99 - latency.raw[i].p99);
      latencyRows.push([`${storeName}: library − raw (per-round paired difference)`, LATENCY_ROUNDS, ms(diffs[store].p50), ms(diffs[store].p99)]);
    }

    // Outbox: commit → handler start, through the outbox and (the anchor) enqueued right after COMMIT.
    const outboxRows: Array<Array<string | number>> = [];
    for (const store of ['sqlite', 'postgres'] as const) {
      const results: Record<OutboxSide, Latency[]> = { outbox: [], 'after-commit': [] };
      for (let r = 0; r < LATENCY_ROUNDS; r++) {
        const order: OutboxSide[] = r % 2 === 0 ? ['after-commit', 'outbox'] : ['outbox', 'after-commit'];
        for (const side of order) results[side].push(await outboxRound(servers, store, side));
      }
      const storeName = store === 'sqlite' ? 'SQLite (better-sqlite3, same process)' : 'PostgreSQL (pg, LISTEN/NOTIFY)';
      outboxRows.push(
        [`${storeName}: \`enqueue\` right after COMMIT (anchor: not atomic)`, LATENCY_ROUNDS, ms(results['after-commit'].map((l) => l.p50)), ms(results['after-commit'].map((l) => l.p99))],
        [`${storeName}: \`enqueue(item, { transaction })\` through the outbox`, LATENCY_ROUNDS, ms(results.outbox.map((l) => l.p50)), ms(results.outbox.map((l) => l.p99))],
      );
    }

    const ratio = median(ratios);
    const signed = (v: number) => `${v >= 0 ? '+' : ''}${fmt(v)}`;
    const targets: BenchTarget[] = [
      {
        target: `end-to-end throughput of \`WorkQueue.enqueue\` → \`@QueueWorker\` on BullMQ's PostgreSQL backend ≥ ${RATIO_TARGET * 100}% of raw BullMQ on the same backend (median of the per-round paired ratios, 1 process)`,
        measured: `${pctOf(ratio)} (rounds: ${pctOf(Math.min(...ratios))}–${pctOf(Math.max(...ratios))})`,
        met: ratio >= RATIO_TARGET,
        ...(ratio < RATIO_TARGET && { gap: `per-round ratios of this run: ${ratios.map(pctOf).join(', ')}` }),
      },
    ];

    return {
      title: '15. Durable on PostgreSQL',
      method:
        `Throughput, end to end: ${JOBS.toLocaleString('en-US')} no-op jobs per round, produced and consumed in this process under one clock, ` +
        'on BullMQ 6.7\'s PostgreSQL backend. The library enqueues through `WorkQueue.enqueue` (a `registerQueue({ backend: { type: \'bullmq\', postgres } })` queue) ' +
        'and consumes with `@QueueWorker`; the anchor adds with `Queue.add` and consumes with a `Worker`, both built with `createPostgresBackend` on the same database; ' +
        `both at concurrency ${CONCURRENCY}, with the same job retention, each producer keeping ${WINDOW} adds in flight; ${ROUNDS} rounds per side after one warm-up round each, ` +
        'alternated (ABBA…); "of raw" is the per-round paired ratio (library / raw), the target judged on its median; CPU µs/job is `process.cpuUsage` over the round. ' +
        `Latency: ${RATE} jobs/s for ${LATENCY_SECONDS} s per round, ${LATENCY_ROUNDS} rounds per side alternated, on PostgreSQL and on Redis, producer and worker in this process ` +
        '(one clock): the job carries `performance.now()` read just before the `enqueue` / `add` call, the handler records its start minus that. ' +
        `Outbox: ${RATE} orders/s for ${LATENCY_SECONDS} s per round, ${LATENCY_ROUNDS} rounds per side alternated: each order is an INSERT and its job in one transaction ` +
        '(`forRoot({ outbox: { sqlite: db } })` with `db.transaction(…)`, or `forRoot({ outbox: { postgres } })` with a `pg` client between BEGIN and COMMIT), ' +
        'the latency is the handler\'s start minus `performance.now()` read just before COMMIT; the anchor enqueues the same job right after COMMIT instead ' +
        '(what an app without an outbox does: fast, but a crash in between loses the job). A memory queue at concurrency 16, so that the figure is the outbox\'s. ' +
        `One local PostgreSQL ${'(Debian\'s server, started by the test harness: fsync off)'} and one local redis-server on 127.0.0.1; Node ${process.version}, ` +
        `${cpus().length} CPUs shared by the servers and this process; load average ${fmt(load)} at the start. Cells: median (min–max) over the rounds.`,
      markdown: [
        table(['case', 'rounds', 'k jobs/s', 'of raw, %', 'CPU µs/job'], throughputRows),
        '',
        `Enqueue → handler-start latency at ${RATE} jobs/s (ms):`,
        '',
        table(['path', 'rounds', 'p50', 'p99'], latencyRows),
        '',
        `PostgreSQL library − raw: p50 ${signed(median(diffs.postgres.p50))} ms, p99 ${signed(median(diffs.postgres.p99))} ms; ` +
          `Redis library − raw: p50 ${signed(median(diffs.redis.p50))} ms, p99 ${signed(median(diffs.redis.p99))} ms (medians of the paired differences).`,
        '',
        `Transactional outbox, COMMIT → handler start at ${RATE} orders/s, a memory queue (ms):`,
        '',
        table(['path', 'rounds', 'p50', 'p99'], outboxRows),
      ].join('\n'),
      targets,
    };
  } finally {
    await redis.stop();
    await postgres.destroy();
  }
}
