/**
 * The transactional outbox on PostgreSQL (a real server from the harness, `pg`), in real Nest apps:
 * `enqueue(item, { transaction: client })` inside the app's BEGIN writes a row that the relay hands to
 * the queue once the transaction committed (NOTIFY wakes it), never when it rolled back; writers of one
 * ordering key are serialized until commit; one relay per table across apps.
 */
import pg from 'pg';
import { OUTBOX_RELAY_NAME } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';
import { closeLeftOpenApps, sleep, within } from '../support/hosting-app.js';
import { startOutboxApp, waitFor, type OutboxApp } from './outbox-test-app.js';

describe('transactional outbox on PostgreSQL', () => {
  let server: PostgresServerHandle;
  let url: string;
  const pools: pg.Pool[] = [];
  const track = closeLeftOpenApps();
  let db = 0;

  beforeAll(async () => {
    server = await startPostgresServer();
  }, 60_000);
  afterAll(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    url = await server.createDatabase(`outbox_${++db}`);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => undefined)));
  });

  /** The app's own pool (what it runs its transactions on). */
  const appPool = (connectionString = url): pg.Pool => {
    const pool = new pg.Pool({ connectionString, max: 5 });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const start = async (options: Parameters<typeof startOutboxApp>[0]): Promise<OutboxApp> => {
    const started = await startOutboxApp(options);
    track(started.app);
    return started;
  };
  const rows = async (pool: pg.Pool, table = 'nest_hosting_outbox') => (await pool.query(`SELECT * FROM ${table} ORDER BY id`)).rows;
  /** BEGIN, `work(client)`, then COMMIT (or ROLLBACK when `rollback` or when work throws). */
  const inTransaction = async <R>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<R>, rollback = false): Promise<R> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  };

  it('relays a committed item with its options, nothing for a rolled-back one; the table is made at start-up', async () => {
    const pool = appPool();
    const { app, emails, received, relay, registry } = await start({ hosting: { outbox: { postgres: url } } });
    const id = await inTransaction(pool, async (client) => {
      await client.query('CREATE TABLE orders (id int PRIMARY KEY)');
      await client.query('INSERT INTO orders VALUES (1)');
      return emails.enqueue({ orderId: 1 }, { transaction: client, priority: 2, attempts: 3 });
    });
    await inTransaction(pool, async (client) => void (await emails.enqueue({ orderId: 2 }, { transaction: client })), true);
    await waitFor(() => received.handled.length === 1, 10_000, 'the committed item');
    await sleep(200);
    await registry.whenIdle();
    expect(received.handled.map((h) => [h.item, h.id, h.options])).toEqual([[{ orderId: 1 }, id, { id, priority: 2, attempts: 3 }]]);
    expect(await rows(pool)).toEqual([]);
    await waitFor(() => relay().outbox.pending === 0);
    expect(relay()).toMatchObject({
      state: 'running',
      runs: 1,
      connections: [{ name: 'postgres', state: 'up' }],
      outbox: { store: 'postgres', table: 'nest_hosting_outbox', leader: true, relayed: 1, pending: 0 },
    });
    await app.close();
  });

  it('NOTIFY from the writing transaction wakes the relay at once: relayed well before a 60 s poll, from another app too', async () => {
    const pool = appPool();
    const relaying = await start({ hosting: { outbox: { postgres: url, pollIntervalMs: 60_000 } } });
    const writer = await start({ hosting: { outbox: { postgres: appPool(), relay: false } }, workers: false });
    await waitFor(() => relaying.relay().state === 'running', 10_000, 'the relay to lead');
    await relaying.registry.whenIdle();
    await sleep(100); // the relay sleeps on its 60 s poll now
    for (const [n, app] of [[1, writer], [2, relaying]] as const) {
      const startedAt = Date.now();
      await inTransaction(pool, (client) => app.emails.enqueue(n, { transaction: client }));
      await waitFor(() => relaying.received.items().includes(n), 15_000, `item ${n}`);
      expect(Date.now() - startedAt).toBeLessThan(15_000); // far under the poll: only the NOTIFY explains it
    }
    await writer.app.close();
    await relaying.app.close();
  });

  it('serializes writers of one ordering key until commit, so its rows relay in commit order; other keys do not wait', async () => {
    const pool = appPool();
    const { app, emails, received } = await start({ hosting: { outbox: { postgres: url } } });
    const first = await pool.connect();
    const second = await pool.connect();
    const other = await pool.connect();
    try {
      await first.query('BEGIN');
      await second.query('BEGIN');
      await other.query('BEGIN');
      await emails.enqueue('k1: first', { transaction: first, orderingKey: 'k1' });
      const secondWrite = emails.enqueue('k1: second', { transaction: second, orderingKey: 'k1' });
      expect(await within(secondWrite, 500, 'waiting')).toBe('waiting'); // behind the first writer's lock
      await emails.enqueue('k2: other', { transaction: other, orderingKey: 'k2' }); // another key: no wait
      await other.query('COMMIT');
      await waitFor(() => received.items().includes('k2: other'), 10_000, 'the other key');
      await first.query('COMMIT');
      await secondWrite;
      await second.query('COMMIT');
      await waitFor(() => received.items().length === 3, 10_000, 'every item');
      expect(received.items()).toEqual(['k2: other', 'k1: first', 'k1: second']);
    } finally {
      for (const client of [first, second, other]) client.release();
    }
    await app.close();
  });

  it('two relaying apps: one leads (an advisory lock), nothing is relayed twice; when it stops, the other takes over', async () => {
    const pool = appPool();
    const a = await start({ hosting: { outbox: { postgres: url, pollIntervalMs: 100 } } });
    const b = await start({ hosting: { outbox: { postgres: url, pollIntervalMs: 100 } } });
    await waitFor(() => a.relay().state !== 'starting' && b.relay().state !== 'starting');
    const [leader, standby] = a.relay().outbox.leader ? [a, b] : [b, a];
    expect(standby.relay()).toMatchObject({ state: 'idle', outbox: { leader: false } });
    await Promise.all(
      Array.from({ length: 30 }, (_, n) => inTransaction(pool, (client) => (n % 2 ? a : b).emails.enqueue(n, { transaction: client }))),
    );
    const all = () => [...a.received.items(), ...b.received.items()];
    await waitFor(() => all().length >= 30, 20_000, 'every item');
    await sleep(300);
    expect(all().sort((x, y) => x - y)).toEqual([...Array(30).keys()]);
    expect(standby.received.items()).toEqual([]);

    await leader.app.close(); // its session ends: the lock is free
    await inTransaction(pool, (client) => standby.emails.enqueue('after', { transaction: client }));
    await waitFor(() => standby.received.items().includes('after'), 15_000, 'the standby to take over');
    expect(standby.relay()).toMatchObject({ state: 'running', outbox: { leader: true } });
    await standby.app.close();
  });

  it("uses the app's pg.Pool as it is (one of its connections while the relay runs), and forRoot's postgres with postgres: true", async () => {
    const pool = appPool();
    const first = await start({ hosting: { outbox: { postgres: pool as never } } });
    await inTransaction(pool, (client) => first.emails.enqueue('through the pool', { transaction: client }));
    await waitFor(() => first.received.items().length === 1);
    await first.app.close();
    expect(pool.totalCount).toBeGreaterThan(0); // the app's pool is not ended
    await pool.query('SELECT 1');

    const second = await start({ hosting: { postgres: url, outbox: { postgres: true } } });
    await inTransaction(pool, (client) => second.emails.enqueue('postgres: true', { transaction: client }));
    await waitFor(() => second.received.items().length === 1);
    await second.app.close();
  });

  it('refuses a pool or a SQLite connection as the transaction, and rejects when the write fails in an aborted transaction', async () => {
    const pool = appPool();
    const { app, emails } = await start({ hosting: { outbox: { postgres: url } } });
    const where = 'WorkQueue.enqueue on queue "emails"';
    expect(() => void emails.enqueue(1, { transaction: pool })).toThrow(`${where}: option "transaction" is a pg.Pool, whose query runs outside any transaction`);
    expect(() => void emails.enqueue(1, { transaction: { name: 'x' } as never })).toThrow(
      `${where}: option "transaction" must be the pg client the app ran BEGIN on (a Client or PoolClient; anything with query(text, values) on that transaction), 'ambient' (@nestjs-cls/transactional) or a TransactionHost, got {"name":"x"} (the outbox is on PostgreSQL)`,
    );
    await inTransaction(
      pool,
      async (client) => {
        await client.query('SELECT 1/0').catch(() => undefined); // the transaction is aborted now
        await expect(emails.enqueue(1, { transaction: client })).rejects.toThrow('current transaction is aborted');
      },
      true,
    );
    await app.close();
  });

  it('fails start-up with the SQL to run when the role may not create the table; starts once it exists', async () => {
    server.psql(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'outbox_app') THEN CREATE ROLE outbox_app LOGIN; END IF; END $$;`);
    const database = `outbox_${db}`;
    server.psql(`GRANT CONNECT ON DATABASE ${database} TO outbox_app`);
    const appUrl = url.replace('postgres://postgres@', 'postgres://outbox_app@');
    const failure = await startOutboxApp({ hosting: { outbox: { postgres: appUrl } } }).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toContain('HostingModule.forRoot({ outbox }): the outbox table nest_hosting_outbox could not be created on PostgreSQL (permission denied for schema public)');
    const sql = message.slice(message.indexOf('CREATE TABLE'));
    // Run by hand, by a role that may, with the rights the app needs.
    server.psql(`${sql}\nGRANT SELECT, INSERT, UPDATE, DELETE ON nest_hosting_outbox TO outbox_app;`, database);
    const pool = appPool(appUrl);
    const { app, emails, received } = await start({ hosting: { outbox: { postgres: appUrl } } });
    await inTransaction(pool, (client) => emails.enqueue('made by hand', { transaction: client }));
    await waitFor(() => received.items().length === 1);
    await app.close();
  });

  it('keeps relayed rows for keepRelayedMs, then deletes them (virtual time)', async () => {
    const pool = appPool();
    const time = new VirtualTime();
    const { app, emails, received, registry } = await start({ hosting: { outbox: { postgres: url, keepRelayedMs: 60 * 60_000 } }, time });
    await inTransaction(pool, (client) => emails.enqueue('kept', { transaction: client }));
    await waitFor(() => received.items().length === 1);
    await registry.whenIdle();
    const [row] = await rows(pool);
    expect(row).toMatchObject({ payload: 'kept', relay_attempts: 0 });
    expect(row.relayed_at).toBeInstanceOf(Date);
    await time.advance(59 * 60_000);
    expect(await rows(pool)).toHaveLength(1);
    await time.advance(2 * 60_000);
    expect(await rows(pool)).toEqual([]);
    await app.close();
  });

  it('reports the relay connection down while PostgreSQL is away, and relays again once it is back', async () => {
    const { app, emails, received, relay, logger } = await start({ hosting: { outbox: { postgres: url, pollIntervalMs: 200 } } });
    await waitFor(() => relay().state === 'running');
    await server.stop();
    await waitFor(() => relay().connections?.[0]?.state === 'down', 20_000, 'the relay to see PostgreSQL gone');
    expect(logger.find('error', 'Outbox relay (nest_hosting_outbox): PostgreSQL is unreachable')).toHaveLength(1);
    await server.start();
    await waitFor(() => relay().connections?.[0]?.state === 'up', 30_000, 'the relay to reconnect');
    const pool = appPool();
    await inTransaction(pool, (client) => emails.enqueue('after the outage', { transaction: client }));
    await waitFor(() => received.items().length === 1, 15_000, 'the item');
    expect(relay()).toMatchObject({ state: 'running', outbox: { leader: true } });
    expect(logger.find('log', 'Outbox relay (nest_hosting_outbox): PostgreSQL is reachable again')).toHaveLength(1);
    await app.close();
  });

  it('lists the relay among the hosted units, and stops it with the host', async () => {
    const { app, registry } = await start({ hosting: { outbox: { postgres: url } } });
    expect(registry.list().map((s) => s.name)).toContain(OUTBOX_RELAY_NAME);
    await app.close();
    expect(registry.get(OUTBOX_RELAY_NAME)?.state).toBe('stopped');
  });
  it('leaves a held key out of its reads until it is due (pages of batchSize go on past it), then tries its first row again', async () => {
    const pool = appPool();
    const attempts = async () => (await rows(pool)).map((r) => [JSON.stringify(r.payload), r.relay_attempts]);
    const time = new VirtualTime();
    const { app, emails, sms, received, registry } = await start({
      hosting: { outbox: { postgres: url, pollIntervalMs: 50, batchSize: 2 } },
      time,
      sms: { capacity: 1, fullMode: 'reject' },
    });
    registry.pause('sms');
    await sms.enqueue('filler');
    await inTransaction(pool, async (tx) => {
      for (const n of [1, 2, 3]) await sms.enqueue(`k${n}`, { transaction: tx, orderingKey: 'held' });
      await sms.enqueue('no key', { transaction: tx });
      for (const n of [1, 2, 3, 4, 5]) await emails.enqueue(n, { transaction: tx });
    });
    await waitFor(() => received.items().length === 5, 10_000, 'the emails past the held key'); // NOTIFY woke the relay
    for (let i = 0; i < 18; i++) await time.advance(50); // 900 ms of 50 ms polls: the held key and row are not tried again
    expect(received.items()).toEqual([1, 2, 3, 4, 5]);
    expect(await attempts()).toEqual([['"k1"', 1], ['"k2"', 0], ['"k3"', 0], ['"no key"', 1]]);
    await time.advance(100); // due: tried again (and held again, 2 s)
    // The retry's statements run after the timer fired, on PostgreSQL's time: wait for its write. A
    // poll pass is real I/O the virtual clock does not wait for, so the relay may have armed its next
    // poll after the clock reached the due instant: nudge the clock on (at most 500 ms more, well
    // inside the second hold of 2 s) while waiting.
    const retried = async () => (await attempts()).filter(([, tries]) => tries === 2).length === 2;
    for (let deadline = Date.now() + 10_000, nudged = 0; Date.now() < deadline && !(await retried()); await sleep(20)) {
      if (nudged < 500) {
        await time.advance(10);
        nudged += 10;
      }
    }
    expect(await attempts()).toEqual([['"k1"', 2], ['"k2"', 0], ['"k3"', 0], ['"no key"', 2]]);
    registry.resume('sms');
    for (let i = 0; i < 10 && received.items('sms').length < 5; i++) await time.advance(5_000);
    expect(received.items('sms').filter((item) => item !== 'no key')).toEqual(['filler', 'k1', 'k2', 'k3']);
    expect(received.items('sms')).toContain('no key');
    await app.close();
  });
});
