/**
 * The outbox's promises across real processes (test/fixtures/outbox-app.ts), on SQLite and on
 * PostgreSQL: a web process SIGKILLed between commit and relay loses no email (a worker relays it);
 * one SIGKILLed between its outbox write and its commit sends none (the row rolled back with the
 * order); a relay SIGKILLed after handing a row to the queue and before marking it hands it over
 * again (at least once), and a queue that still holds the item (BullMQ, same id) absorbs the repeat.
 */
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { fixture } from '../support/paths.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';
import { tempSqliteFile, waitFor } from './outbox-test-app.js';

/** Child processes on a busy 2-core machine. */
const START_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 180_000;

/** Polls an async condition until it holds. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
/** A row is marked once its page was handed over: the item may be handled a moment before. */
const MARKED_MS = 30_000;

describe('transactional outbox across processes', () => {
  let postgres: PostgresServerHandle;
  const children: ChildApp[] = [];
  let databases = 0;

  beforeAll(async () => {
    postgres = await startPostgresServer();
  }, 60_000);
  afterAll(async () => {
    await postgres?.destroy();
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.dispose()));
  });

  /** Starts the fixture and waits for READY. */
  const startApp = async (env: Record<string, string>): Promise<ChildApp> => {
    const child = spawnChildApp(fixture('outbox-app.ts'), { env: { NO_COLOR: '1', ...env } });
    children.push(child);
    await child.waitForOutput(/READY \d+/, START_TIMEOUT_MS);
    return child;
  };
  const send = (child: ChildApp, line: string) => child.proc.stdin!.write(`${line}\n`);
  const handled = (child: ChildApp, order: number) => [...child.output().matchAll(new RegExp(`HANDLED ${order} (\\S+) `, 'g'))].map((m) => m[1]);
  const killed = async (child: ChildApp) => {
    child.kill('SIGKILL');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  };

  interface Store {
    env: Record<string, string>;
    /** Unrelayed and relayed rows of the outbox table. */
    outboxRows(): Promise<number>;
    orders(): Promise<number[]>;
  }
  const sqliteStore = (): Store => {
    const file = tempSqliteFile();
    const query = <T>(sql: string): T[] => {
      const db = new BetterSqlite3(file);
      db.pragma('busy_timeout = 5000');
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    };
    return {
      env: { STORE: 'sqlite', SQLITE_FILE: file },
      outboxRows: async () => query<{ n: number }>('SELECT count(*) AS n FROM nest_hosting_outbox')[0]!.n,
      orders: async () => query<{ id: number }>('SELECT id FROM orders ORDER BY id').map((r) => r.id),
    };
  };
  const postgresStore = async (): Promise<Store> => {
    const url = await postgres.createDatabase(`outbox_processes_${++databases}`);
    const query = async <T>(sql: string): Promise<T[]> => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(sql)).rows as T[];
      } finally {
        await client.end();
      }
    };
    return {
      env: { STORE: 'postgres', PG_URL: url },
      outboxRows: async () => (await query<{ n: number }>('SELECT count(*)::int AS n FROM nest_hosting_outbox'))[0]!.n,
      orders: async () => (await query<{ id: number }>("SELECT id FROM orders ORDER BY id").catch(() => [])).map((r) => r.id),
    };
  };
  const stores: Array<[string, () => Store | Promise<Store>]> = [
    ['SQLite', sqliteStore],
    ['PostgreSQL', postgresStore],
  ];

  describe.each(stores)('on %s', (_name, makeStore) => {
    it('SIGKILL of the web process between commit and relay: a worker relays every email, once', async () => {
      const store = await makeStore();
      const web = await startApp({ ...store.env, RELAY: '0' });
      for (const n of [1, 2, 3]) {
        send(web, `commit ${n}`);
        await web.waitForOutput(`COMMITTED ${n}`);
      }
      await killed(web);
      expect(await store.outboxRows()).toBe(3);

      const worker = await startApp({ ...store.env, RELAY: '1' });
      await waitFor(() => [1, 2, 3].every((n) => handled(worker, n).length === 1), 30_000, 'every email');
      expect(await store.orders()).toEqual([1, 2, 3]);
      send(worker, 'commit 4'); // a later row relayed proves the relay went past the first three
      await worker.waitForOutput(/HANDLED 4 /, 30_000);
      await eventually(async () => (await store.outboxRows()) === 0, MARKED_MS, 'the rows to be marked');
      for (const n of [1, 2, 3]) expect(handled(worker, n)).toHaveLength(1);
    }, TEST_TIMEOUT_MS);

    it('SIGKILL between the outbox write and the commit: the order and its email roll back together, nothing is relayed', async () => {
      const store = await makeStore();
      const web = await startApp({ ...store.env, RELAY: '0' });
      send(web, 'commit 6');
      await web.waitForOutput('COMMITTED 6');
      send(web, 'hang 7');
      await web.waitForOutput('WRITTEN 7');
      await killed(web);

      const worker = await startApp({ ...store.env, RELAY: '1' });
      send(worker, 'commit 8');
      await worker.waitForOutput(/HANDLED 8 /, 30_000); // rows are relayed in order: 6 and 8 came, 7 never existed
      expect(handled(worker, 6)).toHaveLength(1);
      expect(handled(worker, 7)).toEqual([]);
      expect(await store.orders()).toEqual([6, 8]);
      await eventually(async () => (await store.outboxRows()) === 0, MARKED_MS, 'the rows to be marked');
    }, TEST_TIMEOUT_MS);
  });

  it('SQLite: a relay SIGKILLed after handing a row to its queue and before marking it: the next relay hands it over again (at least once, same id)', async () => {
    const store = sqliteStore();
    const web = await startApp({ ...store.env, RELAY: '0' });
    send(web, 'commit-pair 1'); // the email and a `gate` item, in one transaction
    await web.waitForOutput('COMMITTED 1');
    await killed(web);

    // Its `gate` queue is full and nothing drains it: the page's marks wait behind that row, the email is handed over and handled.
    const first = await startApp({ ...store.env, RELAY: '1', GATE: '1' });
    await first.waitForOutput(/HANDLED 1 /, 30_000);
    expect(await store.outboxRows()).toBe(2); // not marked
    await killed(first);

    const second = await startApp({ ...store.env, RELAY: '1' }); // takes over once the dead relay's lease lapsed
    await second.waitForOutput('GATE-HANDLED 1', 60_000);
    await waitFor(() => handled(second, 1).length === 1, 30_000, 'the email again');
    expect(handled(second, 1)).toEqual(handled(first, 1)); // the row's item id, stable across relays
    await eventually(async () => (await store.outboxRows()) === 0, MARKED_MS, 'the rows to be marked');
  }, TEST_TIMEOUT_MS);

  describe('PostgreSQL: a relay SIGKILLed while its mark waits (the row locked by another session)', () => {
    let redis: RedisServerHandle | undefined;
    afterEach(async () => {
      await Promise.all(children.splice(0).map((child) => child.dispose())); // before their Redis goes
      await redis?.stop();
      redis = undefined;
    });

    /** Locks the outbox rows in an open transaction; the relay's DELETE of them waits for it. */
    const lockRows = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('BEGIN');
      await client.query('SELECT id FROM nest_hosting_outbox FOR UPDATE');
      return client;
    };
    /** Runs `sql` on its own connection. */
    const query = async (url: string, sql: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    };
    const WAITING_MARK = "wait_event_type = 'Lock' AND query LIKE 'DELETE FROM \"nest_hosting_outbox\"%'";
    const markWaiting = async (url: string) => (await query(url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${WAITING_MARK}`))[0].n === 1;
    /**
     * The relay process is gone, but its server session still waits for the lock with the DELETE it
     * sent, and would run it once the lock is free. A relay killed before it sent its mark never marks:
     * end that session too, so that the DELETE never runs.
     */
    const endOrphanMark = async (url: string) => {
      expect(await query(url, `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE ${WAITING_MARK}`)).toEqual([{ ended: true }]);
    };

    it('memory queue: the item completed already, so the next relay delivers it again (at least once, same id)', async () => {
      const store = await postgresStore();
      const web = await startApp({ ...store.env, RELAY: '0' });
      send(web, 'commit 1');
      await web.waitForOutput('COMMITTED 1');
      await killed(web);
      const locker = await lockRows(store.env.PG_URL!);
      try {
        const first = await startApp({ ...store.env, RELAY: '1' });
        await first.waitForOutput(/HANDLED 1 /, 30_000);
        await eventually(() => markWaiting(store.env.PG_URL!), 30_000, "the relay's mark to wait for the lock");
        await killed(first);
        await endOrphanMark(store.env.PG_URL!);
        await locker.query('ROLLBACK');

        const second = await startApp({ ...store.env, RELAY: '1' });
        await waitFor(() => handled(second, 1).length === 1, 30_000, 'the email again');
        expect(handled(second, 1)).toEqual(handled(first, 1));
        await eventually(async () => (await store.outboxRows()) === 0, MARKED_MS, 'the row to be marked');
      } finally {
        await locker.end();
      }
    }, TEST_TIMEOUT_MS);

    it('BullMQ queue still holding the job: the repeated hand-over is absorbed by its id, the email is handled once', async () => {
      redis = await startRedisServer();
      const store = await postgresStore();
      const env = { ...store.env, BACKEND: 'bullmq', REDIS_URL: redis.url };
      const web = await startApp({ ...env, RELAY: '0', WORKERS: '0' });
      send(web, 'commit 1');
      await web.waitForOutput('COMMITTED 1');
      await killed(web);
      const locker = await lockRows(store.env.PG_URL!);
      try {
        const first = await startApp({ ...env, RELAY: '1', WORKERS: '0' }); // hands the job to Redis, nobody consumes it
        await eventually(() => markWaiting(store.env.PG_URL!), 30_000, "the relay's mark to wait for the lock");
        await killed(first);
        await endOrphanMark(store.env.PG_URL!);
        await locker.query('ROLLBACK');
      } finally {
        await locker.end();
      }
      // Relays the row again while the job waits in Redis (nothing consumes here): absorbed by its id.
      const second = await startApp({ ...env, RELAY: '1', WORKERS: '0' });
      await eventually(async () => (await store.outboxRows()) === 0, MARKED_MS, 'the second relay to hand the row over');
      await killed(second);
      const consumer = await startApp({ ...env, RELAY: '1', WORKERS: '1' });
      await waitFor(() => handled(consumer, 1).length === 1, 30_000, 'the email');
      send(consumer, 'commit 2');
      await consumer.waitForOutput(/HANDLED 2 /, 30_000); // FIFO: a second job of order 1 would have come before it
      expect(handled(consumer, 1)).toHaveLength(1);
    }, TEST_TIMEOUT_MS);
  });
});
