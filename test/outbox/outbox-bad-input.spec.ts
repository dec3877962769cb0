/**
 * Bad input to the transactional outbox fails loudly, naming the entry point, the option and the
 * value: `HostingModule.forRoot({ outbox })` (and forRootAsync), `enqueue(item, { transaction })`,
 * and an outbox table that cannot be made.
 */
import BetterSqlite3 from 'better-sqlite3';
import { HostingModule, HostingRegistry, OUTBOX_RELAY_NAME } from '../../src/index.js';
import { closeLeftOpenApps, compileHostingApp, sleep } from '../support/hosting-app.js';
import { openAppDb, outboxRows, startOutboxApp, tempSqliteFile, type OutboxApp } from './outbox-test-app.js';

describe('transactional outbox: bad input', () => {
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

  describe('HostingModule.forRoot({ outbox })', () => {
    it.each([
      [{}, 'HostingModule.forRoot: option "outbox" must name one store, "sqlite" (a better-sqlite3 Database) or "postgres" (a URL, pg pool options or a pg.Pool), and names none'],
      ['sqlite', 'HostingModule.forRoot: option "outbox" must be an object, got "sqlite"'],
      [{ sqlite: { prepare() {} } }, 'HostingModule.forRoot: option "outbox.sqlite" must be a better-sqlite3 Database (new Database(file)), got {}'],
      [{ postgres: 'mysql://x' }, 'HostingModule.forRoot: option "outbox.postgres": the PostgreSQL URL "mysql://x" must start with postgres:// or postgresql://'],
      [{ postgres: true }, 'HostingModule.forRoot: option "outbox.postgres" is true, which means HostingModule.forRoot({ postgres }), and that is not set'],
      [{ postgres: 'postgres://127.0.0.1/x', pollInterval: 5 }, 'HostingModule.forRoot: unknown option "outbox.pollInterval"; did you mean "outbox.pollIntervalMs"?'],
      [{ postgres: 'postgres://127.0.0.1/x', table: 'my-outbox' }, 'HostingModule.forRoot: option "outbox.table" must be a table name: an identifier (a letter or _, then letters, digits or _; up to 63 characters), or schema.table, got "my-outbox"'],
      [{ postgres: 'postgres://127.0.0.1/x', table: 'a.b.c' }, 'option "outbox.table" must be a table name'],
      [{ postgres: 'postgres://127.0.0.1/x', pollIntervalMs: 0 }, 'HostingModule.forRoot: option "outbox.pollIntervalMs" must be a number of milliseconds from 10 to 3600000, got 0'],
      [{ postgres: 'postgres://127.0.0.1/x', batchSize: 0 }, 'HostingModule.forRoot: option "outbox.batchSize" must be an integer from 1 to 10000, got 0'],
      [{ postgres: 'postgres://127.0.0.1/x', keepRelayedMs: -1 }, 'HostingModule.forRoot: option "outbox.keepRelayedMs" must be a number of milliseconds from 0 to'],
      [{ postgres: 'postgres://127.0.0.1/x', relay: 'no' }, 'HostingModule.forRoot: option "outbox.relay" must be a boolean, got "no"'],
    ])('refuses outbox %j', (outbox, message) => {
      expect(() => HostingModule.forRoot({ outbox: outbox as never })).toThrow(TypeError);
      expect(() => HostingModule.forRoot({ outbox: outbox as never })).toThrow(message);
    });

    it('refuses both stores at once, and a closed connection', () => {
      const db = open();
      expect(() => HostingModule.forRoot({ outbox: { sqlite: db, postgres: 'postgres://127.0.0.1/x' } })).toThrow('option "outbox" must name one store, "sqlite" (a better-sqlite3 Database) or "postgres" (a URL, pg pool options or a pg.Pool), and names both');
      db.close();
      expect(() => HostingModule.forRoot({ outbox: { sqlite: db } })).toThrow(`option "outbox.sqlite" is a better-sqlite3 Database that is closed (${db.name})`);
    });

    it('binds configuration strings from forRootAsync, and refuses what does not bind, naming forRootAsync', async () => {
      const db = open();
      const { app } = await compileHostingApp({
        hostingModule: HostingModule.forRootAsync({ useFactory: () => ({ outbox: { sqlite: db, pollIntervalMs: '500', relay: 'false', batchSize: '10' } as never }) }),
      });
      track(app);
      await app.init();
      expect(app.get(HostingRegistry).get(OUTBOX_RELAY_NAME)).toMatchObject({ state: 'disabled' }); // relay: 'false'
      const bad = await compileHostingApp({
        hostingModule: HostingModule.forRootAsync({ useFactory: () => ({ outbox: { sqlite: db, pollIntervalMs: 'often' } as never }) }),
      }).catch((error: unknown) => error);
      expect(String(bad)).toContain('HostingModule.forRootAsync: option "outbox.pollIntervalMs" must be a number of milliseconds from 10 to 3600000, got "often"');
    });
  });

  describe('the outbox table', () => {
    it('fails start-up with the SQL to run when the table cannot be created (a read-only database)', async () => {
      const file = tempSqliteFile();
      open(file).close();
      const readonly = new BetterSqlite3(file, { readonly: true });
      dbs.push(readonly);
      const failure = await startOutboxApp({ hosting: { outbox: { sqlite: readonly } } }).catch((error: unknown) => error as Error);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toContain('HostingModule.forRoot({ outbox }): the outbox table nest_hosting_outbox could not be created on SQLite');
      expect((failure as Error).message).toContain('attempt to write a readonly database');
      expect((failure as Error).message).toContain('CREATE TABLE IF NOT EXISTS "nest_hosting_outbox" (');
    });

    it("refuses a table of that name that is not an outbox table", async () => {
      const db = open();
      db.exec('CREATE TABLE jobs (id INTEGER PRIMARY KEY, body TEXT)');
      const failure = await startOutboxApp({ hosting: { outbox: { sqlite: db, table: 'jobs' } } }).catch((error: unknown) => error as Error);
      expect((failure as Error).message).toBe(
        'HostingModule.forRoot({ outbox }): the table jobs exists but is not an outbox table (it lacks queue, item_id, ordering_key, payload, headers, options, run_at, created_at, relayed_at, relay_attempts, last_error); choose another name with option "outbox.table"',
      );
    });

    it('uses the table named by option "table"', async () => {
      const db = open();
      const { app, emails, received } = await start({ hosting: { outbox: { sqlite: db, table: 'app_outbox', relay: false } } });
      db.transaction(() => void emails.enqueue('x', { transaction: db }))();
      expect(outboxRows(db, 'app_outbox').map((r) => r.payload)).toEqual(['"x"']);
      expect(received.handled).toEqual([]);
      await app.close();
    });
  });

  describe('WorkQueue.enqueue(item, { transaction })', () => {
    it('throws (at once, so that db.transaction rolls back) for what cannot be written, naming the queue and the option', async () => {
      const db = open();
      const other = open();
      const { app, emails } = await start({ hosting: { outbox: { sqlite: db } } });
      const inTransaction = (fn: () => unknown) => db.transaction(fn)();
      const where = 'WorkQueue.enqueue on queue "emails"';
      const pgClient = { query: async () => ({ rows: [] }) };
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: pgClient as never }))).toThrow(
        `${where}: option "transaction" must be the better-sqlite3 Database the transaction is open on (call enqueue inside db.transaction(() => …)), 'ambient' (@nestjs-cls/transactional) or a TransactionHost, got {} (the outbox is on SQLite)`,
      );
      expect(() => void emails.enqueue(1, { transaction: db })).toThrow(
        `${where}: option "transaction" is a better-sqlite3 Database (${db.name}) with no transaction open: call enqueue inside db.transaction(() => …)`,
      );
      expect(() => other.transaction(() => void emails.enqueue(1, { transaction: other }))()).toThrow(
        `${where}: option "transaction" is a connection to ${other.name}, but the outbox is in ${db.name}`,
      );
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: 'emails' as never }))).toThrow(
        `${where}: option "transaction" must be a transaction handle or 'ambient', got the string "emails"`,
      );
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: 'ambient' }))).toThrow(
        `${where}: option "transaction" is 'ambient', but no TransactionHost of @nestjs-cls/transactional is registered in this app`,
      );
      const host = { tx: db, isTransactionActive: () => false };
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: host }))).toThrow(
        `${where}: option "transaction" is 'ambient' (or a TransactionHost), but no transaction is active`,
      );
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: db, signal: new AbortController().signal }))).toThrow(
        `${where}: option "signal" must be unset with "transaction"`,
      );
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: db, orderingKey: '' }))).toThrow(
        `${where}: option "orderingKey" must be a non-empty string of at most 200 characters, got ""`,
      );
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: db, priority: -1 }))).toThrow(`${where}: option "priority" must be an integer from 0 to 2097151, got -1`);
      expect(() => inTransaction(() => void emails.enqueue(1, { transaction: db, id: '12' }))).toThrow(`${where}: option "id" must be a non-empty string`);
      expect(() => inTransaction(() => void emails.enqueue({ at: new Date(0) }, { transaction: db }))).toThrow(
        `${where}: item.at is a Date, which JSON turns into a string. The outbox stores items as JSON, so it would not reach the worker as it was given; pass item.at.toISOString() and new Date(…) it in the worker`,
      );
      expect(() => inTransaction(() => void emails.enqueue(undefined, { transaction: db }))).toThrow(`${where}: item is undefined.`);
      // A transaction that committed anyway (the caller swallowed the throw) holds no row.
      expect(outboxRows(db)).toEqual([]);
      await app.close();
    });

    it('rejects orderingKey without a transaction, and enqueueMany with one', async () => {
      const db = open();
      const { app, emails } = await start({ hosting: { outbox: { sqlite: db } } });
      await expect(emails.enqueue(1, { orderingKey: 'k' })).rejects.toThrow(
        'WorkQueue.enqueue on queue "emails": option "orderingKey" must be unset unless "transaction" is given',
      );
      await expect(emails.enqueueMany([1, 2], { transaction: db } as never)).rejects.toThrow(
        'WorkQueue.enqueueMany on queue "emails": option "transaction" must be unset: enqueueMany does not write to the outbox; call enqueue for each item inside the transaction',
      );
      await app.close();
    });

    it('throws when forRoot has no outbox', async () => {
      const db = open();
      const { app, emails } = await start({ hosting: {} });
      expect(() => db.transaction(() => void emails.enqueue(1, { transaction: db }))()).toThrow(
        'WorkQueue.enqueue on queue "emails": option "transaction" writes the item to the transactional outbox, which is not configured: set HostingModule.forRoot({ outbox: { sqlite: db } }) or forRoot({ outbox: { postgres } })',
      );
      await sleep(10);
      await app.close();
    });
  });
});
