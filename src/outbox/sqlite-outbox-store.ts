import * as path from 'node:path';
import { errorMessage } from '../errors/thrown-value.js';
import type { OutboxEntry, OutboxWrite, SqliteDatabase } from '../interfaces/outbox-options.interface.js';
import { isSqliteDatabase } from './outbox-options.validation.js';
import {
  OUTBOX_SCHEMA_FAILED,
  OUTBOX_SQLITE_NOT_IN_TRANSACTION,
  OUTBOX_SQLITE_OTHER_DATABASE,
  OUTBOX_TABLE_MISSING_COLUMNS,
  OUTBOX_WRONG_TRANSACTION,
} from './outbox.messages.js';
import {
  OUTBOX_COLUMNS,
  OutboxBusyError,
  quoteName,
  type OutboxClaim,
  type OutboxCounts,
  type OutboxExclusions,
  type OutboxRow,
  type OutboxStore,
  type RawOutboxRow,
  toOutboxRow,
} from './outbox-store.js';

/** The parts of better-sqlite3's `Statement` the store uses. */
interface Statement {
  run(...params: unknown[]): { changes: number };
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
}

/** The parts of better-sqlite3's `Database` the store uses. */
interface Connection extends SqliteDatabase {
  prepare(source: string): Statement;
  transaction<F extends (...args: never[]) => unknown>(fn: F): { immediate(...args: Parameters<F>): ReturnType<F> };
}

/** How often, and how long, a row written in this process is watched for the end of its transaction (then the relay is woken). */
const COMMIT_CHECK_MS = 5;
const COMMIT_CHECKS = 2_000;

/**
 * The outbox on SQLite, through the app's better-sqlite3 connection. Writes are synchronous, inside
 * the app's transaction (`db.transaction(() => …)`), on whichever connection of the same database
 * file the app gives. The relay's statements run on the configured connection between the app's
 * transactions (while one is open on it, they wait: `OutboxBusyError`), each statement its own
 * transaction (no read-then-write snapshot that another process could invalidate, which
 * busy_timeout would not cover), except the lease claim, which is `BEGIN IMMEDIATE`.
 *
 * Several processes on one file: one relays at a time, the holder of a lease row (`<table>_lease`),
 * renewed while it relays and released at stop; another takes over once it lapsed.
 */
export class SqliteOutboxStore implements OutboxStore {
  readonly kind = 'sqlite';
  readonly ready: Promise<void>;
  onLocalWrite?: (ended: Promise<void>) => void;
  private readonly db: Connection;
  private readonly name: string;
  private readonly leaseTable: string;
  private readonly inserts = new WeakMap<object, Statement>();
  private readonly statements = new Map<string, Statement>();
  private readonly watched = new WeakSet<object>();
  /** The lease's expiry as this process last wrote it (0: not held). */
  private leaseUntil = 0;

  constructor(
    db: SqliteDatabase,
    readonly table: string,
  ) {
    this.db = db as Connection;
    this.name = quoteName(table);
    this.leaseTable = quoteName(`${table}_lease`);
    // Synchronously, when the module is built: a provider may enqueue in its own onModuleInit.
    try {
      this.createSchema();
      this.ready = Promise.resolve();
    } catch (error) {
      this.ready = Promise.reject(error);
      this.ready.catch(() => undefined);
    }
  }

  /** The DDL, as run at start-up (and shown when it cannot run). */
  schemaSql(): string {
    const [schema, bare] = this.table.includes('.') ? this.table.split('.') : [undefined, this.table];
    const index = (suffix: string) => (schema ? `${quoteName(schema)}.${quoteName(`${bare}_${suffix}`)}` : quoteName(`${bare}_${suffix}`));
    const on = quoteName(bare!);
    return [
      `CREATE TABLE IF NOT EXISTS ${this.name} (`,
      `  id             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a row's id is never another's`,
      `  queue          TEXT    NOT NULL,`,
      `  item_id        TEXT    NOT NULL,`,
      `  ordering_key   TEXT,`,
      `  payload        TEXT    NOT NULL,`,
      `  headers        TEXT,`,
      `  options        TEXT,`,
      `  run_at         INTEGER,`,
      `  created_at     INTEGER NOT NULL,`,
      `  relayed_at     INTEGER,`,
      `  relay_attempts INTEGER NOT NULL DEFAULT 0,`,
      `  last_error     TEXT`,
      `);`,
      `CREATE INDEX IF NOT EXISTS ${index('pending')} ON ${on} (id) WHERE relayed_at IS NULL;`,
      `CREATE INDEX IF NOT EXISTS ${index('relayed')} ON ${on} (relayed_at) WHERE relayed_at IS NOT NULL;`,
      `CREATE TABLE IF NOT EXISTS ${this.leaseTable} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);`,
    ].join('\n');
  }

  /** Creates what is missing; a table of that name that is someone else's is refused first. */
  private createSchema(): void {
    const [schema, bare] = this.table.includes('.') ? this.table.split('.') : ['main', this.table];
    const columns = (this.db.prepare(`PRAGMA ${quoteName(schema!)}.table_info(${quoteName(bare!)})`).all() as Array<{ name: string }>).map((c) => c.name);
    if (columns.length > 0) {
      const missing = OUTBOX_COLUMNS.filter((column) => !columns.includes(column));
      if (missing.length) throw new Error(OUTBOX_TABLE_MISSING_COLUMNS(this.table, missing));
    }
    const sql = this.schemaSql();
    try {
      this.db.exec(sql);
    } catch (error) {
      throw new Error(OUTBOX_SCHEMA_FAILED(`SQLite (${this.db.name})`, this.table, error, sql), { cause: error });
    }
  }

  writer(where: string, transaction: unknown): OutboxWrite {
    if (!isSqliteDatabase(transaction)) throw new TypeError(OUTBOX_WRONG_TRANSACTION(where, 'sqlite', transaction));
    const db = this.db;
    if (transaction !== db && (db.memory || transaction.memory || path.resolve(transaction.name) !== path.resolve(db.name)))
      throw new TypeError(OUTBOX_SQLITE_OTHER_DATABASE(where, transaction.name, db.name));
    if (!transaction.inTransaction) throw new TypeError(OUTBOX_SQLITE_NOT_IN_TRANSACTION(where, transaction.name));
    const connection = transaction as Connection;
    return {
      synchronous: true,
      write: (entry: OutboxEntry) => {
        let insert = this.inserts.get(connection);
        if (!insert) {
          insert = connection.prepare(
            `INSERT INTO ${this.name} (queue, item_id, ordering_key, payload, headers, options, run_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          );
          this.inserts.set(connection, insert);
        }
        insert.run(entry.queue, entry.itemId, entry.orderingKey ?? null, entry.payload, entry.headers ?? null, entry.options ?? null, entry.runAt ?? null, entry.createdAt);
        this.watchTransaction(connection);
        return entry.itemId;
      },
    };
  }

  /**
   * Tells the relay when the transaction a row was just written in has ended (committed or rolled
   * back): better-sqlite3's transactions are synchronous, so usually on the next turn of the event
   * loop; one the app holds open across awaits is looked at every few ms. Real timers on purpose:
   * this waits for the app's code, not for the host's schedule (the relay's poll covers the rest).
   */
  private watchTransaction(connection: Connection): void {
    if (this.watched.has(connection) || !this.onLocalWrite) return;
    this.watched.add(connection);
    this.onLocalWrite(
      new Promise<void>((resolve) => {
        let checks = 0;
        const check = () => {
          if (connection.open && connection.inTransaction && ++checks < COMMIT_CHECKS) {
            setTimeout(check, COMMIT_CHECK_MS).unref();
            return;
          }
          this.watched.delete(connection);
          resolve();
        };
        setImmediate(check);
      }),
    );
  }

  async claim(holder: string, now: number, leaseMs: number): Promise<OutboxClaim> {
    // Still well within the lease this process wrote: nothing to write.
    if (this.leaseUntil - now > leaseMs / 2) return 'leader';
    const claimed = this.run(() =>
      this.db
        .transaction(() => {
          const current = this.statement(`SELECT holder, expires_at FROM ${this.leaseTable} WHERE name = ?`).get(this.table) as
            | { holder: string; expires_at: number }
            | undefined;
          if (current && current.holder !== holder && current.expires_at > now) return false;
          this.statement(
            `INSERT INTO ${this.leaseTable} (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
          ).run(this.table, holder, now + leaseMs);
          return true;
        })
        .immediate(),
    );
    this.leaseUntil = claimed ? now + leaseMs : 0;
    return claimed ? 'leader' : 'standby';
  }

  async read(exclusions: OutboxExclusions, limit: number): Promise<OutboxRow[]> {
    const rows = this.run(
      () =>
        this.statement(
          `SELECT id, queue, item_id, ordering_key, payload, headers, options, run_at FROM ${this.name}
           WHERE relayed_at IS NULL
             AND id NOT IN (SELECT value FROM json_each(?))
             AND queue NOT IN (SELECT value FROM json_each(?))
             AND (ordering_key IS NULL OR json_array(queue, ordering_key) NOT IN (SELECT value FROM json_each(?)))
           ORDER BY id LIMIT ?`,
        ).all(JSON.stringify(exclusions.ids), JSON.stringify(exclusions.queues), JSON.stringify(exclusions.keys), limit) as RawOutboxRow[],
    );
    return rows.map(toOutboxRow);
  }

  async markRelayed(ids: ReadonlyArray<number | string>, now: number, keep: boolean): Promise<void> {
    const list = JSON.stringify(ids);
    this.run(() =>
      keep
        ? this.statement(`UPDATE ${this.name} SET relayed_at = ? WHERE id IN (SELECT value FROM json_each(?))`).run(now, list)
        : this.statement(`DELETE FROM ${this.name} WHERE id IN (SELECT value FROM json_each(?))`).run(list),
    );
  }

  async recordFailure(id: number | string, error: string): Promise<void> {
    this.run(() => this.statement(`UPDATE ${this.name} SET relay_attempts = relay_attempts + 1, last_error = ? WHERE id = ?`).run(error, id));
  }

  async sweep(cutoff: number, limit: number): Promise<number> {
    return this.run(
      () =>
        this.statement(
          `DELETE FROM ${this.name} WHERE id IN (SELECT id FROM ${this.name} WHERE relayed_at IS NOT NULL AND relayed_at < ? ORDER BY relayed_at LIMIT ?)`,
        ).run(cutoff, limit).changes,
    );
  }

  async counts(): Promise<OutboxCounts> {
    const row = this.run(() => this.statement(`SELECT count(*) AS pending, min(created_at) AS oldest FROM ${this.name} WHERE relayed_at IS NULL`).get()) as {
      pending: number;
      oldest: number | null;
    };
    return { pending: row.pending, oldestAt: row.oldest ?? undefined };
  }

  async reset(): Promise<void> {
    this.leaseUntil = 0;
  }

  async release(holder: string): Promise<void> {
    if (this.leaseUntil === 0) return;
    this.leaseUntil = 0;
    if (!this.db.open) return;
    this.run(() => this.statement(`DELETE FROM ${this.leaseTable} WHERE name = ? AND holder = ?`).run(this.table, holder));
  }

  async dispose(): Promise<void> {}

  /** Runs a relay statement, unless the shared connection is inside an app's transaction (or locked by another process): then `OutboxBusyError`. */
  private run<R>(statement: () => R): R {
    if (!this.db.open) throw new OutboxBusyError('the SQLite connection is closed');
    if (this.db.inTransaction) throw new OutboxBusyError('a transaction of the app is open on the SQLite connection');
    try {
      return statement();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) throw new OutboxBusyError(errorMessage(error));
      throw error;
    }
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
