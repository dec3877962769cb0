/**
 * The transactional outbox on SQLite (better-sqlite3, real files in temp directories), in real Nest
 * apps: `enqueue(item, { transaction: db })` inside `db.transaction(() => …)` writes a row that the
 * relay hands to the queue once the transaction committed, and never when it rolled back.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { OUTBOX_RELAY_NAME, type EnqueueContext, type WorkInterceptor } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { closeLeftOpenApps, sleep } from '../support/hosting-app.js';
import { openAppDb, outboxRows, startOutboxApp, tempSqliteFile, waitFor, type OutboxApp } from './outbox-test-app.js';

describe('transactional outbox on SQLite', () => {
  const track = closeLeftOpenApps();
  const dbs: BetterSqlite3.Database[] = [];
  afterEach(() => {
    for (const db of dbs.splice(0)) if (db.open) db.close();
  });
  const open = (file = tempSqliteFile()) => {
    const db = openAppDb(file);
    dbs.push(db);
    return db;
  };
  const start = async (options: Parameters<typeof startOutboxApp>[0]): Promise<OutboxApp> => {
    const started = await startOutboxApp(options);
    track(started.app);
    return started;
  };

  it('relays a committed item to its queue with its options and id; the enqueue resolves with that id', async () => {
    const db = open();
    const { app, emails, received, relay, registry } = await start({ hosting: { outbox: { sqlite: db } } });
    let id!: Promise<string>;
    db.transaction(() => {
      db.prepare("INSERT INTO orders (id, note) VALUES (1, 'first')").run();
      id = emails.enqueue({ orderId: 1 }, { transaction: db, priority: 3, attempts: 2, backoff: { type: 'fixed', delayMs: 10 }, timeoutMs: 5_000 });
    })();
    const itemId = await id;
    expect(itemId).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => received.handled.length === 1, 10_000, 'the relayed item');
    expect(received.handled[0]).toMatchObject({
      item: { orderId: 1 },
      id: itemId,
      attempt: 1,
      options: { id: itemId, priority: 3, attempts: 2, backoff: { type: 'fixed', delayMs: 10 }, timeoutMs: 5_000 },
    });
    await registry.whenIdle(); // the relay marks a page once every row of it was handed over
    expect(outboxRows(db)).toEqual([]); // relayed rows are deleted (keepRelayedMs 0)
    expect(relay()).toMatchObject({ name: OUTBOX_RELAY_NAME, kind: 'background', state: 'running', runs: 1, failures: 0, outbox: { store: 'sqlite', table: 'nest_hosting_outbox', leader: true, heldBack: 0, unknownQueues: [] } });
    await app.close();
  });

  it('relays nothing for a rolled-back transaction, and keeps a given id', async () => {
    const db = open();
    const { app, emails, received, registry } = await start({ hosting: { outbox: { sqlite: db } } });
    expect(() =>
      db.transaction(() => {
        void emails.enqueue({ orderId: 2 }, { transaction: db });
        throw new Error('payment declined');
      })(),
    ).toThrow('payment declined');
    let id!: Promise<string>;
    db.transaction(() => {
      id = emails.enqueue({ orderId: 3 }, { transaction: db, id: 'order-3' });
    })();
    expect(await id).toBe('order-3');
    await waitFor(() => received.handled.length === 1);
    await registry.whenIdle();
    expect(received.handled.map((h) => [h.item, h.id])).toEqual([[{ orderId: 3 }, 'order-3']]);
    expect(outboxRows(db)).toEqual([]);
    await app.close();
  });

  it("writes in a transaction the app holds open across awaits (its own BEGIN), and relays once it commits; the relay waits meanwhile", async () => {
    const db = open();
    const { app, emails, received, relay } = await start({ hosting: { outbox: { sqlite: db, pollIntervalMs: 20 } } });
    db.exec('BEGIN IMMEDIATE');
    await emails.enqueue('held', { transaction: db });
    await sleep(300); // many polls: the relay must not read (nor mark) inside the app's transaction
    expect(received.handled).toEqual([]);
    expect(db.inTransaction).toBe(true);
    db.exec('COMMIT');
    await waitFor(() => received.items().length === 1, 10_000, 'the item after COMMIT');
    expect(received.items()).toEqual(['held']);
    expect(relay().failures).toBe(0);
    await app.close();
  });

  it('wakes the relay when a transaction of this process commits: relayed well before a 60 s poll', async () => {
    const db = open();
    const { app, emails, received, registry } = await start({ hosting: { outbox: { sqlite: db, pollIntervalMs: 60_000 } } });
    await waitFor(() => registry.get(OUTBOX_RELAY_NAME)?.state === 'running');
    await registry.whenIdle();
    const startedAt = Date.now();
    db.transaction(() => void emails.enqueue('quick', { transaction: db }))();
    await waitFor(() => received.items().length === 1, 10_000, 'the item');
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    await app.close();
  });

  it('carries headers written by enqueue interceptors (a trace context, a request id) to the delivery', async () => {
    const db = open();
    const tagger: WorkInterceptor = {
      intercept: (_work, next) => next(),
      interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>) {
        enqueue.headers['x-request-id'] = `req-${String((enqueue.data as { n: number }).n)}`;
        return next();
      },
    };
    const { app, emails, received } = await start({ hosting: { outbox: { sqlite: db }, interceptors: [tagger] } });
    db.transaction(() => void emails.enqueue({ n: 7 }, { transaction: db }))();
    await waitFor(() => received.handled.length === 1);
    expect(received.handled[0]!.headers).toEqual({ 'x-request-id': 'req-7' });
    await app.close();
  });

  it('an interceptor that calls next() late makes enqueue throw (rolling the transaction back): nothing is written, then or later', async () => {
    const db = open();
    const late: WorkInterceptor = {
      intercept: (_work, next) => next(),
      async interceptEnqueue(_enqueue: EnqueueContext, next: () => Promise<string>) {
        await sleep(1);
        return next();
      },
    };
    const { app, emails, received, registry } = await start({ hosting: { outbox: { sqlite: db }, interceptors: [late] } });
    expect(() => db.transaction(() => void emails.enqueue('late', { transaction: db }))()).toThrow(
      'WorkQueue.enqueue on queue "emails": an enqueue interceptor called next() after an await, but the outbox is on SQLite',
    );
    await sleep(50);
    await registry.whenIdle();
    expect(outboxRows(db)).toEqual([]);
    expect(received.handled).toEqual([]);
    await app.close();
  });

  it('delays an item by delayMs counted from the enqueue (virtual time), runAt likewise', async () => {
    const db = open();
    const time = new VirtualTime();
    const { app, emails, received, registry } = await start({ hosting: { outbox: { sqlite: db } }, time });
    db.transaction(() => {
      void emails.enqueue('in a minute', { transaction: db, delayMs: 60_000 });
      void emails.enqueue('at two minutes', { transaction: db, runAt: new Date(time.now() + 120_000) });
    })();
    await registry.whenIdle();
    expect(outboxRows(db)).toEqual([]); // relayed: waiting in the queue as delayed items
    expect(received.items()).toEqual([]);
    await time.advance(59_000);
    expect(received.items()).toEqual([]);
    await time.advance(1_000);
    expect(received.items()).toEqual(['in a minute']);
    await time.advance(60_000);
    expect(received.items()).toEqual(['in a minute', 'at two minutes']);
    await app.close();
  });

  it('hands rows of one ordering key over in commit order; a failing enqueue holds back only that key', async () => {
    const db = open();
    const time = new VirtualTime();
    const { app, emails, sms, received, registry, relay, logger } = await start({
      hosting: { outbox: { sqlite: db } },
      time,
      sms: { capacity: 1, fullMode: 'reject' },
    });
    registry.pause('sms');
    await sms.enqueue('filler'); // sms is full: handing it a row fails with QueueFullError
    db.transaction(() => {
      void sms.enqueue('a1', { transaction: db, orderingKey: 'customer-1' });
      void emails.enqueue('b1', { transaction: db, orderingKey: 'customer-2' });
    })();
    db.transaction(() => {
      void sms.enqueue('a2', { transaction: db, orderingKey: 'customer-1' });
      void emails.enqueue('b2', { transaction: db, orderingKey: 'customer-2' });
      void emails.enqueue('c', { transaction: db });
    })();
    await registry.whenIdle();
    await time.advance(500);
    expect([...received.items()].sort()).toEqual(['b1', 'b2', 'c']);
    expect(received.items().indexOf('b1')).toBeLessThan(received.items().indexOf('b2'));
    expect(outboxRows(db).map((r) => [r.payload, r.relay_attempts])).toEqual([
      ['"a1"', 1],
      ['"a2"', 0],
    ]);
    expect(relay()).toMatchObject({ failures: 1, lastError: { message: expect.stringContaining('full') }, outbox: { heldBack: 1, pending: 2 } });
    expect(logger.find('warn', 'Outbox relay: handing a row to queue "sms" failed')[0]!.message).toContain('later rows of ordering key "customer-1" are tried again in 1000 ms');

    registry.resume('sms'); // room again once the filler is handled
    for (let i = 0; i < 10 && received.items('sms').length < 3; i++) await time.advance(30_000);
    expect(received.items('sms')).toEqual(['filler', 'a1', 'a2']);
    expect(outboxRows(db)).toEqual([]);
    expect(relay().outbox.heldBack).toBe(0);
    await app.close();
  });

  it('keeps relayed rows for keepRelayedMs, then deletes them (virtual time)', async () => {
    const db = open();
    const time = new VirtualTime();
    const { app, emails, received, registry } = await start({ hosting: { outbox: { sqlite: db, keepRelayedMs: 10 * 60_000 } }, time });
    db.transaction(() => {
      void emails.enqueue('one', { transaction: db });
      void emails.enqueue('two', { transaction: db });
    })();
    await registry.whenIdle();
    expect(received.items()).toEqual(['one', 'two']);
    const relayedAt = time.now();
    expect(outboxRows(db).map((r) => [r.payload, r.relayed_at])).toEqual([
      ['"one"', relayedAt],
      ['"two"', relayedAt],
    ]);
    await time.advance(5 * 60_000);
    db.transaction(() => void emails.enqueue('three', { transaction: db }))();
    await registry.whenIdle();
    expect(outboxRows(db).map((r) => r.payload)).toEqual(['"one"', '"two"', '"three"']);
    await time.advance(6 * 60_000); // 11 min after the first two were relayed: swept (the cleanup runs every minute)
    expect(outboxRows(db).map((r) => r.payload)).toEqual(['"three"']);
    await time.advance(5 * 60_000);
    expect(outboxRows(db)).toEqual([]);
    await app.close();
  });

  it('leaves rows naming a queue this app lacks in the table, logs it once and lists it; the other rows go on', async () => {
    const file = tempSqliteFile();
    const writerDb = open(file);
    const relayDb = open(file);
    const writer = await start({ hosting: { outbox: { sqlite: writerDb, relay: false } }, workers: false });
    const relaying = await start({ hosting: { outbox: { sqlite: relayDb, pollIntervalMs: 50 } }, withoutSms: true });
    expect(writer.relay()).toMatchObject({ state: 'disabled', outbox: { store: 'sqlite', leader: false } });
    writerDb.transaction(() => {
      void writer.sms.enqueue('to sms', { transaction: writerDb });
      void writer.emails.enqueue('to emails', { transaction: writerDb });
    })();
    await waitFor(() => relaying.received.items().length === 1, 10_000, 'the emails row');
    await waitFor(() => relaying.relay().outbox.unknownQueues.length === 1);
    expect(relaying.relay().outbox).toMatchObject({ unknownQueues: ['sms'] });
    await waitFor(() => relaying.relay().outbox.pending === 1);
    expect(relaying.relay().outbox).toMatchObject({ pending: 1, oldestPendingAt: expect.any(Date), oldestPendingAgeMs: expect.any(Number), checkedAt: expect.any(Date) });
    expect(relaying.relay().outbox.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    expect(outboxRows(relayDb).map((r) => r.queue)).toEqual(['sms']);
    await sleep(200); // more polls: still logged once
    expect(relaying.logger.find('error', 'rows of nest_hosting_outbox name queue "sms", which this app does not register')).toHaveLength(1);
    await relaying.app.close();
    await writer.app.close();
  });

  it('two relaying apps on one file: one relays (the lease holder), nothing twice; when it stops, the other takes over', async () => {
    const file = tempSqliteFile();
    const dbA = open(file);
    const dbB = open(file);
    const a = await start({ hosting: { outbox: { sqlite: dbA, pollIntervalMs: 50 } } });
    const b = await start({ hosting: { outbox: { sqlite: dbB, pollIntervalMs: 50 } } });
    await waitFor(() => a.relay().state !== 'starting' && b.relay().state !== 'starting');
    const [leader, standby] = a.relay().outbox.leader ? [a, b] : [b, a];
    expect(standby.relay()).toMatchObject({ state: 'idle', outbox: { leader: false } });
    for (let n = 0; n < 40; n++) {
      const [app, db] = n % 2 ? [a, dbA] : [b, dbB];
      db.transaction(() => void app.emails.enqueue(n, { transaction: db }))();
      if (n % 10 === 0) await sleep(5);
    }
    const all = () => [...a.received.items(), ...b.received.items()];
    await waitFor(() => all().length >= 40, 20_000, 'every item');
    await sleep(200);
    expect(all().sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    expect(standby.received.items()).toEqual([]);

    await leader.app.close(); // gives the lease up
    const db = leader === a ? dbB : dbA;
    db.transaction(() => void standby.emails.enqueue('after', { transaction: db }))();
    await waitFor(() => standby.received.items().includes('after'), 10_000, 'the standby to take over');
    expect(standby.relay().outbox.leader).toBe(true);
    await standby.app.close();
  });

  it('relay: false (or enabled.background: false) writes rows and relays none; the unit is listed as disabled', async () => {
    const db = open();
    const { app, emails, received, relay, registry } = await start({ hosting: { outbox: { sqlite: db }, enabled: { background: false } } });
    expect(relay()).toMatchObject({ state: 'disabled', kind: 'background', outbox: { store: 'sqlite', leader: false, relayed: 0 } });
    db.transaction(() => void emails.enqueue('stays', { transaction: db }))();
    await sleep(100);
    await registry.whenIdle();
    expect(received.handled).toEqual([]);
    expect(outboxRows(db).map((r) => r.payload)).toEqual(['"stays"']);
    await app.close();
  });
  it('leaves a held key out of its reads until it is due (pages of batchSize go on past it), then tries its first row again', async () => {
    const db = open();
    const attempts = () => outboxRows(db).map((r) => [r.payload, r.relay_attempts]);
    const time = new VirtualTime();
    const { app, emails, sms, received, registry } = await start({
      hosting: { outbox: { sqlite: db, pollIntervalMs: 50, batchSize: 2 } },
      time,
      sms: { capacity: 1, fullMode: 'reject' },
    });
    registry.pause('sms');
    await sms.enqueue('filler');
    db.transaction(() => {
      const tx = db;
      for (const n of [1, 2, 3]) void sms.enqueue(`k${n}`, { transaction: tx, orderingKey: 'held' });
      void sms.enqueue('no key', { transaction: tx });
      for (const n of [1, 2, 3, 4, 5]) void emails.enqueue(n, { transaction: tx });
    })();
    for (let i = 0; i < 18; i++) await time.advance(50); // 900 ms of 50 ms polls: the held key and row are not tried again
    expect(received.items()).toEqual([1, 2, 3, 4, 5]);
    expect(attempts()).toEqual([['"k1"', 1], ['"k2"', 0], ['"k3"', 0], ['"no key"', 1]]);
    await time.advance(100); // due: tried again (and held again, 2 s)
    expect(attempts()).toEqual([['"k1"', 2], ['"k2"', 0], ['"k3"', 0], ['"no key"', 2]]);
    registry.resume('sms');
    for (let i = 0; i < 10 && received.items('sms').length < 5; i++) await time.advance(5_000);
    expect(received.items('sms').filter((item) => item !== 'no key')).toEqual(['filler', 'k1', 'k2', 'k3']);
    expect(received.items('sms')).toContain('no key');
    await app.close();
  });
});
