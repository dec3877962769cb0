/**
 * BullMQ on PostgreSQL: the retention of finished jobs (`removeOnComplete`, `deadLetters`) under
 * concurrent finishes. BullMQ's PostgreSQL backend trims the finished jobs inside the transaction
 * that finishes each job, and concurrent finishes deadlocked on the rows they trimmed ("deadlock
 * detected", a second lost each, a crawl at concurrency 16); the store trims outside the finish,
 * one trim at a time, skipping rows another session holds. A real PostgreSQL, one server and one
 * database for the file.
 */
import { Injectable } from '@nestjs/common';
import { Client, Pool } from 'pg';
import { HostingModule, InjectQueue, QueueWorker, type BullMqBackendOptions, type QueueOptions, type WorkQueue } from '../../src/index.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { sleep, startHostingApp, type HostingApp } from '../support/hosting-app.js';

const { postgres, url, uniqueName } = bullmqPostgresUnderTest();
const apps: HostingApp[] = [];
let pool: Pool | undefined;
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.app.close()));
  await pool?.end();
  pool = undefined;
});

/** One value of the first row of `text` on the file's database (the test's own pool). */
async function value(text: string, params: unknown[] = []): Promise<string> {
  if (!pool) {
    pool = new Pool({ connectionString: url(), max: 2 });
    pool.on('error', () => undefined);
  }
  const { rows } = await pool.query<Record<string, unknown>>(text, params);
  return String(Object.values(rows[0] ?? {})[0]);
}

/** How many jobs of queue `name` are in `state`. */
const inState = (name: string, state: string) => value('SELECT count(*) FROM bullmq.job WHERE queue = $1 AND state = $2', [name, state]).then(Number);

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes (generous: a busy 2-core machine). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The deadlocks PostgreSQL has reported so far (its log: one line per aborted transaction). */
const deadlocks = () => (postgres().output().match(/deadlock detected/g) ?? []).length;

/** An app with queue `name` on PostgreSQL (backend options `backend`) and a worker at `concurrency` that records each item (and fails those that start with "bad"). */
async function start(name: string, concurrency: number, backend: Partial<BullMqBackendOptions>, extra: Partial<QueueOptions> = {}) {
  const seen: string[] = [];
  @Injectable()
  class Producer {
    constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker(name, { concurrency })
    run(item: string) {
      seen.push(item);
      if (item.startsWith('bad')) throw new Error(item);
    }
  }
  const started = await startHostingApp({
    imports: [HostingModule.registerQueue({ name, backend: { type: 'bullmq', ...backend }, ...extra })],
    providers: [Producer, Worker],
    hosting: { postgres: url(), shutdownTimeoutMs: 5_000 },
  });
  apps.push(started);
  return { queue: started.app.get(Producer).queue, seen };
}

const items = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Enqueues `all`, 50 at a time (a producer's window: no enqueue waits past its timeout on a busy machine). */
async function enqueueAll(queue: WorkQueue<string>, all: string[]): Promise<void> {
  for (let i = 0; i < all.length; i += 50) await Promise.all(all.slice(i, i + 50).map((item) => queue.enqueue(item)));
}

describe('BullMQ on PostgreSQL: retention of finished jobs under concurrent finishes', () => {
  it('at concurrency 16 no finish deadlocks, no handler that succeeded is failed, and exactly `count` completed jobs are kept', async () => {
    const name = uniqueName('retention-concurrent');
    const before = deadlocks();
    const { queue, seen } = await start(name, 16, { removeOnComplete: { count: 20 } });
    const all = items('ok', 1_500);
    await enqueueAll(queue, all);
    await until(
      async () => seen.length >= all.length && (await value("SELECT count(*) FROM bullmq.job WHERE queue = $1 AND state <> 'completed'", [name])) === '0',
      'every item handled, no job left unfinished',
      120_000,
    );
    await until(async () => (await inState(name, 'completed')) === 20, '20 completed jobs kept');

    expect(new Set(seen).size).toBe(all.length);
    expect(await inState(name, 'failed')).toBe(0);
    expect(deadlocks() - before).toBe(0);
  }, 180_000);

  it("a finish never waits for a trimmed row another session holds (BullMQ's trim in the finish did, so concurrent finishes deadlocked); the row goes with a later trim", async () => {
    const name = uniqueName('retention-held');
    const { queue, seen } = await start(name, 16, { removeOnComplete: { count: 5 } });
    for (const item of items('first', 10)) await queue.enqueue(item);
    await until(async () => seen.length === 10 && (await inState(name, 'completed')) === 5, 'the first 10 handled, 5 kept');

    // Another session holds the oldest completed job kept: the next finishes would trim it.
    const holder = new Client({ connectionString: url() });
    holder.on('error', () => undefined);
    await holder.connect();
    try {
      await holder.query('BEGIN');
      const held = await holder.query<{ id: string }>(
        "SELECT id FROM bullmq.job WHERE queue = $1 AND state = 'completed' ORDER BY finished_at_ms, seq LIMIT 1 FOR UPDATE",
        [name],
      );
      const heldId = held.rows[0]!.id;
      await enqueueAll(queue, items('second', 40));
      await until(async () => seen.length === 50 && (await inState(name, 'completed')) === 6, 'the next 40 finished while the row is held (5 kept, and the held one)');
      expect(await value('SELECT count(*) FROM bullmq.job WHERE queue = $1 AND id = $2', [name, heldId])).toBe('1');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end().catch(() => undefined);
    }

    await queue.enqueue('last');
    await until(async () => seen.includes('last') && (await inState(name, 'completed')) === 5, 'the held row trimmed once released');
    expect(await value("SELECT count(*) FROM bullmq.job WHERE queue = $1 AND state = 'completed' AND data #>> '{}' = 'last'", [name])).toBe('1');
    expect(await inState(name, 'failed')).toBe(0);
  }, 120_000);

  it('an age (removeOnComplete: { ageMs }) keeps only the jobs finished within it; dead letters keep the newest `count`', async () => {
    const name = uniqueName('retention-age');
    const { queue, seen } = await start(name, 1, { removeOnComplete: { ageMs: 1_000 } }, { deadLetters: { count: 2 } });
    for (const item of items('old', 5)) await queue.enqueue(item);
    await until(async () => seen.length === 5 && (await inState(name, 'completed')) === 5, 'the first 5 completed');
    // Past the age of the first five (a lower bound: waiting longer changes nothing).
    await sleep(1_500);
    await queue.enqueue('new');
    await until(async () => seen.includes('new') && (await inState(name, 'completed')) === 1, 'only the new job kept');
    expect(await value("SELECT data #>> '{}' FROM bullmq.job WHERE queue = $1 AND state = 'completed'", [name])).toBe('new');

    for (const item of items('bad', 4)) await queue.enqueue(item);
    await until(async () => seen.filter((s) => s.startsWith('bad')).length === 4 && (await inState(name, 'failed')) === 2, 'four failed, two kept');
    expect(await value("SELECT string_agg(data #>> '{}', ',' ORDER BY finished_at_ms, seq) FROM bullmq.job WHERE queue = $1 AND state = 'failed'", [name])).toBe('bad-2,bad-3');
  }, 120_000);
});
