/**
 * BullMQ on PostgreSQL, what the shared suites do not show (a real PostgreSQL, one server and one
 * database for the file): which store a queue selects, the connection forms (URL, options with a
 * schema, the app's pg.Pool), start-up refusals of what the PostgreSQL backend cannot keep, the
 * migrations a role without rights may not run (with the statements that fix it, run here as the
 * message says), an id's time to live kept across a cancel, and the dashboard's and health's views.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  QueueWorker,
  type BullMqBackendOptions,
  type HostingOptions,
  type JobContext,
  type QueueOptions,
  type WorkQueue,
} from '../../src/index.js';
import { HostingDashboardModule } from '../../src/dashboard/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { QUEUE_UNDELIVERED } from '../../src/hosting.messages.js';
import { PG_POSTGRES_TRUE_WITHOUT_ROOT } from '../../src/queues/bullmq/bullmq-postgres.messages.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';
import { repoRoot } from '../support/paths.js';

const { postgres, url, uniqueName } = bullmqPostgresUnderTest();
const apps: HostingApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.app.close()));
});

/** Runs SQL on the file's database as the superuser, one value per line. */
const sql = (text: string, database = 'queues') => postgres().psql(text, database);

/**
 * An app with queue `name` (backend options `backend`), a producer, and a worker that records each
 * item (and runs `handle`).
 */
async function start<T>(
  name: string,
  hosting: HostingOptions,
  backend: Partial<BullMqBackendOptions> | 'bullmq' = 'bullmq',
  handle?: (item: T, ctx: JobContext) => unknown,
  extra: Partial<QueueOptions> = {},
) {
  const seen: T[] = [];
  @Injectable()
  class Producer {
    constructor(@InjectQueue(name) readonly queue: WorkQueue<T>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker(name)
    run(item: T, ctx: JobContext) {
      seen.push(item);
      return handle?.(item, ctx);
    }
  }
  const started = await startHostingApp({
    imports: [HostingModule.registerQueue({ name, backend: backend === 'bullmq' ? 'bullmq' : { type: 'bullmq', ...backend }, ...extra })],
    providers: [Producer, Worker],
    hosting: { shutdownTimeoutMs: 5_000, ...hosting },
  });
  apps.push(started);
  return { ...started, queue: started.app.get(Producer).queue, registry: started.app.get(HostingRegistry), seen };
}

describe('BullMQ on PostgreSQL', () => {
  it("forRoot({ postgres }) with backend 'bullmq': the jobs live in PostgreSQL, in BullMQ's schema; status shows the connections up", async () => {
    const name = uniqueName('basic');
    const { queue, registry, seen } = await start<{ n: number }>(name, { postgres: url() });
    const id = await queue.enqueue({ n: 1 });
    await waitFor(() => seen.length === 1, 15_000, 'the item');
    expect(seen).toEqual([{ n: 1 }]);
    // The handler ran; BullMQ writes the completion right after.
    await waitFor(() => sql(`SELECT state FROM bullmq.job WHERE queue = '${name}' AND id = '${id}'`) === 'completed', 15_000, 'the job completed');
    await waitFor(() => registry.get(name)!.connections!.every((c) => c.state === 'up'), 15_000, 'every connection up');
    expect(registry.get(name)).toMatchObject({ backend: 'bullmq', processed: 1 });
    expect(registry.get(name)!.connections!.map((c) => c.name)).toEqual(['producer', 'worker']);
  });

  it("selects the store by the rule: a queue's own postgres, postgres: true (forRoot's postgres) or the Redis default when forRoot has both", async () => {
    const own = uniqueName('own-url');
    const flagged = uniqueName('flagged');
    const redisDefault = uniqueName('redis-default');
    // forRoot's Redis is nowhere (a closed port): only the queue that defaults to it reaches for it.
    const hosting: HostingOptions = { redis: 'redis://127.0.0.1:1', postgres: url() };
    const a = await start<string>(own, hosting, { postgres: url() });
    const b = await start<string>(flagged, hosting, { postgres: true });
    const c = await start<string>(redisDefault, hosting);
    await a.queue.enqueue('a');
    await b.queue.enqueue('b');
    await waitFor(() => a.seen.length === 1 && b.seen.length === 1, 15_000, 'both PostgreSQL queues');
    expect(sql(`SELECT count(*) FROM bullmq.job WHERE queue IN ('${own}', '${flagged}')`)).toBe('2');
    await waitFor(() => c.registry.get(redisDefault)!.connections!.some((conn) => conn.state === 'down'), 15_000, 'the Redis queue down');
    expect(c.logger.find('error', `Queue "${redisDefault}" (bullmq) producer: Redis is unreachable`)).toHaveLength(1);
    expect(sql(`SELECT count(*) FROM bullmq.job WHERE queue = '${redisDefault}'`)).toBe('0');
  });

  it('postgres: true without forRoot({ postgres }) fails at start-up, saying what to give', async () => {
    const name = uniqueName('no-root');
    await expect(start<string>(name, { redis: 'redis://127.0.0.1:1' }, { postgres: true })).rejects.toThrow(new TypeError(PG_POSTGRES_TRUE_WITHOUT_ROOT(name)));
  });

  it("options with a schema: BullMQ's tables in that schema (migrated at start), the jobs there", async () => {
    const name = uniqueName('schema');
    const { queue, seen } = await start<string>(name, {}, { postgres: { connectionString: url(), schema: 'jobs_here' } });
    const id = await queue.enqueue('x');
    await waitFor(() => seen.length === 1, 15_000, 'the item');
    expect(sql(`SELECT count(*) FROM jobs_here.job WHERE queue = '${name}' AND id = '${id}'`)).toBe('1');
    expect(Number(sql('SELECT max(version) FROM jobs_here.migration'))).toBeGreaterThan(0);
  });

  it('at shutdown leaves the queued items in PostgreSQL for the next worker, says so in its words, and the next worker takes them', async () => {
    const name = uniqueName('undelivered');
    let finish!: () => void;
    const running = new Promise<void>((resolve) => (finish = resolve));
    const first = await start<number>(name, { postgres: url() }, 'bullmq', (item) => (item === 0 ? running : undefined));
    for (let i = 0; i < 4; i++) await first.queue.enqueue(i);
    await waitFor(() => first.seen.length === 1, 15_000, 'the first item running');
    const closed = first.app.close();
    // The first item ends once the queue stops taking items: the other three were never started here.
    await waitFor(() => first.registry.get(name)?.state === 'stopping', 15_000, 'the queue stopping');
    finish();
    await closed;
    apps.splice(apps.indexOf(first), 1);
    expect(first.seen).toEqual([0]);
    expect(first.logger.find('warn', 'left undelivered').map((e) => e.message)).toEqual([QUEUE_UNDELIVERED(name, 3, true, 'PostgreSQL')]);
    expect(QUEUE_UNDELIVERED(name, 3, true, 'PostgreSQL')).toBe(`Queue "${name}": 3 items were left undelivered at shutdown; they stay in PostgreSQL for the next worker`);

    const next = await start<number>(name, { postgres: url() });
    await waitFor(() => next.seen.length === 3, 15_000, 'the items left behind');
    expect(next.seen).toEqual([1, 2, 3]);
  });

  it("the app's pg.Pool is used as it is (its search_path must reach the schema) and left open", async () => {
    const pool = new Pool({ connectionString: url(), options: '-c search_path=bullmq' });
    try {
      const name = uniqueName('app-pool');
      const started = await start<string>(name, { postgres: pool });
      await started.queue.enqueue('via the pool');
      await waitFor(() => started.seen.length === 1, 15_000, 'the item');
      await started.app.close();
      apps.splice(apps.indexOf(started), 1);
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]); // not ended

      const plain = new Pool({ connectionString: url() });
      try {
        await expect(start<string>(uniqueName('plain-pool'), { postgres: plain })).rejects.toThrow(
          /a pg\.Pool given as the connection is used as it is.*its current schema is "public"\. Create the pool with new Pool\(\{ …, options: '-c search_path=bullmq' \}\)/,
        );
      } finally {
        await plain.end();
      }
    } finally {
      await pool.end();
    }
  });

  it('refuses what BullMQ’s PostgreSQL backend cannot keep, naming the queue, the option and the value', async () => {
    const name = uniqueName('refusals');
    expect(() => HostingModule.registerQueue({ name, backend: { type: 'bullmq', postgres: url(), prefix: 'p' } })).toThrow(
      /option "backend\.prefix" must be left out with backend\.postgres: BullMQ's PostgreSQL backend ignores it/,
    );
    expect(() => {
      @Injectable()
      class TooMany {
        @QueueWorker(name, { limiter: { max: 2 ** 31, durationMs: 1_000 } })
        run() {}
      }
      return TooMany;
    }).toThrow(/"limiter\.max" must be an integer from 1 to 2147483647, got 2147483648/);
    const { queue } = await start<unknown>(name, { postgres: url() });
    const at = `WorkQueue.enqueue on queue "${name}" (bullmq on PostgreSQL)`;
    await expect(queue.enqueue(null)).rejects.toThrow(new TypeError(`${at}: item is null, which BullMQ's PostgreSQL backend hands to the worker as {}. BullMQ's PostgreSQL backend stores items as jsonb, so it would not reach the worker as it was given; wrap it ({ value: null }) or pass another value`));
    await expect(queue.enqueue({ note: 'a\u0000b' })).rejects.toThrow(`${at}: item.note contains a NUL character (\\u0000), which PostgreSQL's jsonb cannot store`);
    await expect(queue.enqueue({ ['k\u0000']: 1 })).rejects.toThrow(/item\["k\\u0000"\] has a key that contains a NUL character/);
    await expect(queue.enqueue(['\ud800'])).rejects.toThrow(`${at}: item[0] contains a lone UTF-16 surrogate, which PostgreSQL's jsonb refuses`);
    await expect(queue.enqueueMany([1, { a: [null, 'x\u0000'] }])).rejects.toThrow(`${at}: items[1].a[1] contains a NUL character`);
    await expect(queue.enqueue(1, { attempts: 2 ** 31 })).rejects.toThrow(
      new TypeError(`${at}: option "attempts" must be at most 2147483647 (BullMQ's PostgreSQL backend keeps it in an integer column), got 2147483648`),
    );
    expect(sql(`SELECT count(*) FROM bullmq.job WHERE queue = '${name}'`)).toBe('0');
    // A null inside an item, well-formed text and any key order reach the worker as given (keys sorted: jsonb).
    await queue.enqueue({ b: null, a: ['\ud83d\ude00', 'é'] });
  });

  it('with idTtlMs a cancelled item keeps its id taken for the rest of the time to live; without, the id is free at once', async () => {
    const name = uniqueName('ttl-cancel');
    const { queue } = await start<string>(name, { postgres: url() });
    await queue.enqueue('first', { id: 'u', idTtlMs: 60_000, delayMs: 60_000 });
    expect(await queue.cancel('u')).toBe('removed');
    expect(await queue.enqueue('second', { id: 'u' })).toBe('u');
    expect(sql(`SELECT count(*) FROM bullmq.job WHERE queue = '${name}' AND id = 'u'`)).toBe('0'); // not added: still taken
    const left = Number(sql(`SELECT expire_at_ms - (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM bullmq.dedup WHERE queue = '${name}' AND dedup_id = 'u'`));
    expect(left).toBeGreaterThan(50_000);
    await queue.enqueue('third', { id: 'v', delayMs: 60_000 });
    expect(await queue.cancel('v')).toBe('removed');
    expect(await queue.enqueue('fourth', { id: 'v', delayMs: 60_000 })).toBe('v');
    expect(sql(`SELECT data #>> '{}' FROM bullmq.job WHERE queue = '${name}' AND id = 'v'`)).toBe('fourth');
  });

  it('pause and resume, drain, depth, progress on the job, and the retention of finished jobs and dead letters', async () => {
    const name = uniqueName('control');
    const { queue, registry, seen } = await start<string>(
      name,
      { postgres: url() },
      { removeOnComplete: true },
      (item, ctx) => {
        ctx.progress({ item });
        if (item.startsWith('bad')) throw new Error(item);
      },
      { deadLetters: { count: 1 } },
    );
    await waitFor(() => registry.get(name)!.connections!.every((c) => c.state === 'up'), 15_000, 'connections up');
    registry.pause(name);
    for (const item of ['a', 'b', 'c']) await queue.enqueue(item);
    await waitFor(() => registry.get(name)!.depth === 3, 15_000, 'the depth refreshed');
    expect(seen).toEqual([]);
    registry.resume(name);
    await queue.drain();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(sql(`SELECT count(*) FROM bullmq.job WHERE queue = '${name}'`)).toBe('0'); // removeOnComplete: true

    await queue.enqueue('bad-1');
    await queue.enqueue('bad-2');
    await waitFor(() => registry.get(name)!.failed === 2, 15_000, 'both failures');
    expect(sql(`SELECT id || ' ' || state || ' ' || (progress ->> 'item') FROM bullmq.job WHERE queue = '${name}'`)).toMatch(/^\d+ failed bad-2$/); // deadLetters: { count: 1 }
  });

  it('a role that may not create the tables: start-up fails naming the queue, role, database and schema, with the statements to run; run as said, it starts', async () => {
    const database = 'locked';
    await postgres().createDatabase(database);
    sql(`CREATE ROLE limited LOGIN`);
    const limited = url().replace('postgres://postgres@', 'postgres://limited@').replace(/\/queues$/, `/${database}`);
    const name = uniqueName('rights');
    const refused = await start<string>(name, { postgres: limited }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refused?.message).toMatch(
      new RegExp(`^Queue "${name}" \\(bullmq on PostgreSQL\\): BullMQ's tables in schema "bullmq" of database "locked" need creating or upgrading, and the role "limited" may not do it \\(permission denied for database locked\\)`),
    );
    expect(refused?.message).toContain('GRANT CREATE ON DATABASE "locked" TO "limited";');
    expect(refused?.message).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "bullmq" TO "limited";');

    // "run BullMQ's migrations yourself as a role that may": the command of the message, as written.
    const command = /^ {2}(node -e .*)$/m.exec(refused!.message)![1];
    execFileSync('/bin/sh', ['-c', command], { cwd: repoRoot, env: { ...process.env, ADMIN_DATABASE_URL: url().replace(/\/queues$/, `/${database}`) }, stdio: 'pipe' });
    expect(Number(sql('SELECT max(version) FROM bullmq.migration', database))).toBeGreaterThan(0);

    // The tables exist, and the role may not use them yet: refused again, saying what it lacks.
    const ungranted = await start<string>(name, { postgres: limited }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(ungranted?.message).toMatch(new RegExp(`^Queue "${name}" \\(bullmq on PostgreSQL\\): the role "limited" lacks USAGE and CREATE on the schema`));
    const grants = refused!.message.split('\n').filter((line) => line.trim().startsWith('GRANT') && !line.includes('ON DATABASE'));
    expect(grants).toHaveLength(3);
    sql(grants.join('\n'), database);

    const { queue, seen } = await start<string>(name, { postgres: limited });
    await queue.enqueue('at last');
    await waitFor(() => seen.length === 1, 15_000, 'the item');
  });

  it("the dashboard and health show a PostgreSQL queue: its connections, counts and dead letters", async () => {
    const name = uniqueName('views');
    @Injectable()
    class Jobs {
      constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}

      @QueueWorker(name)
      work(item: string) {
        if (item === 'bad') throw new Error('bad item');
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        HostingModule.forRoot({ shutdownTimeoutMs: 5_000, postgres: url() }),
        HostingModule.registerQueue({ name, backend: 'bullmq' }),
        HostingDashboardModule.register({ readOnly: false }),
        TerminusModule,
      ],
      providers: [Jobs, HostingHealthIndicator],
    })
      .setLogger(new CaptureLogger())
      .compile();
    const app: INestApplication = moduleRef.createNestApplication({ logger: false });
    try {
      await app.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/hosting`;
      const registry = app.get(HostingRegistry);
      await app.get(Jobs).queue.enqueue('good');
      const bad = await app.get(Jobs).queue.enqueue('bad');
      await waitFor(() => registry.get(name)!.failed === 1 && registry.get(name)!.processed === 1, 15_000, 'both items');
      await waitFor(() => registry.get(name)!.connections!.every((c) => c.state === 'up') && registry.get(name)!.deadLetters === 1, 15_000, 'counts refreshed');

      const status = (await (await fetch(`${base}/status.json`)).json()) as { services: Array<Record<string, unknown>> };
      expect(status.services.find((s) => s.name === name)).toMatchObject({
        kind: 'queue',
        backend: 'bullmq',
        processed: 1,
        failed: 1,
        deadLetters: 1,
        connections: [expect.objectContaining({ name: 'producer', state: 'up' }), expect.objectContaining({ name: 'worker', state: 'up' })],
      });
      const page = await (await fetch(base)).text();
      expect(page).toContain(`data-connection="producer"`);
      expect(page).toMatch(/producer up/);
      const letters = (await (await fetch(`${base}/queues/${name}/dead-letters.json`)).json()) as { total: number; items: Array<{ id: string; error: { message: string } }> };
      expect(letters).toMatchObject({ total: 1, items: [{ id: bad, error: { message: 'bad item' } }] });

      expect(app.get(HostingHealthIndicator).isReady('ready')).toEqual({ ready: { status: 'up', state: 'running' } });
    } finally {
      await app.close();
    }
  }, 60_000);
});
