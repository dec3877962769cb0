import type { PostgresConnectionOptions } from './postgres-connection.interface.js';
import type { ServiceStatus } from './service-status.interface.js';

/**
 * A `better-sqlite3` `Database`, described structurally so that type checking never needs
 * better-sqlite3 installed: the app's own connection (`new Database(file)`).
 */
export interface SqliteDatabase {
  prepare(source: string): unknown;
  exec(source: string): unknown;
  transaction(fn: (...args: never[]) => unknown): unknown;
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean;
  /** The file (`':memory:'` for an in-memory database). */
  readonly name: string;
  readonly open: boolean;
  readonly memory: boolean;
}

/**
 * A PostgreSQL connection inside the app's transaction: the `pg` `Client` or `PoolClient` the app
 * ran `BEGIN` on, or anything with its `query(text, values)` that runs on that transaction (a
 * TypeORM `EntityManager` or `QueryRunner` of a transaction, for instance).
 */
export interface PostgresTransactionClient {
  query(text: string, values?: unknown[]): unknown;
}

/**
 * A `TransactionHost` of `@nestjs-cls/transactional` (described structurally: the package is not a
 * dependency): `enqueue` writes with its current transaction (`tx`, which must be a
 * `SqliteDatabase` or a `PostgresTransactionClient`), and refuses when none is active.
 */
export interface OutboxTransactionHost {
  readonly tx: unknown;
  isTransactionActive(): boolean;
}

/**
 * The app's transaction that `WorkQueue.enqueue(item, { transaction })` writes the item in (the
 * transactional outbox, `HostingModule.forRoot({ outbox })`):
 *
 * - SQLite: the better-sqlite3 `Database` inside `db.transaction(() => …)` (or after the app's own `BEGIN`);
 * - PostgreSQL: the client the app ran `BEGIN` on (`PostgresTransactionClient`);
 * - `'ambient'`: the current transaction of `@nestjs-cls/transactional`'s default `TransactionHost`
 *   (the one `@Transactional()` opened), or a `TransactionHost` itself (a named connection's).
 */
export type OutboxTransaction = SqliteDatabase | PostgresTransactionClient | OutboxTransactionHost | 'ambient';

/**
 * The transactional outbox (`HostingModule.forRoot({ outbox })`): `WorkQueue.enqueue(item, {
 * transaction })` writes the item as a row of a table in the app's own database, with the app's
 * transaction, so the item exists if and only if that transaction commits; a relay (a hosted
 * background service, `outbox.relay`) hands committed rows to their queues. Give one store:
 * `sqlite` or `postgres`.
 */
export interface OutboxOptions {
  /**
   * SQLite: the app's better-sqlite3 `Database`. The relay reads and marks rows through this
   * connection, between the app's own transactions (it waits while one is open on it).
   */
  sqlite?: SqliteDatabase;
  /**
   * PostgreSQL: where the outbox table is (the app's database): a `postgres://` URL or `pg` pool
   * options (the relay opens a small pool of its own, closed at shutdown), a `pg.Pool` (used as it
   * is; the relay holds one of its connections while it runs, and never ends it), or `true` for
   * `HostingModule.forRoot({ postgres })`.
   */
  postgres?: true | PostgresConnectionOptions;
  /**
   * The table, created at start-up when missing (`CREATE TABLE IF NOT EXISTS`; without the rights,
   * start-up fails with the SQL to run by hand): an identifier, or `schema.table`.
   * @default 'nest_hosting_outbox'
   */
  table?: string;
  /**
   * How often the relay looks for rows it was not told about: rows written by another process on
   * SQLite (rows written in this process wake it as their transaction ends), and a safety net on
   * PostgreSQL, where `NOTIFY` from the writing transaction wakes it at once. Also how often a standby
   * process (another one relays) checks whether it should take over. From 10 ms to 1 hour.
   * @default 1000 on SQLite, 5000 on PostgreSQL
   */
  pollIntervalMs?: number;
  /** Rows the relay reads and hands to their queues per round trip. From 1 to 10000. @default 100 */
  batchSize?: number;
  /**
   * How long relayed rows stay in the table (marked with `relayed_at`) before the relay deletes
   * them; 0 deletes each row as it is relayed. From 0 to 100 years.
   * @default 0
   */
  keepRelayedMs?: number;
  /**
   * Whether this process relays. `false` in a process that only writes (a web process whose
   * worker processes relay); the relay is then listed with state `'disabled'`. Every relaying
   * process must register every queue the rows name.
   * @default true, or false when `HostingModule.forRoot({ enabled: { background: false } })`
   */
  relay?: boolean;
}

/** What the relay reports of the outbox (`HostingRegistry.get('outbox.relay')`, as `OutboxRelayStatus`). */
export interface OutboxStatus {
  store: 'sqlite' | 'postgres';
  table: string;
  /** This process holds the relay's lease (SQLite) or lock (PostgreSQL) and relays; other processes stand by. */
  leader: boolean;
  /** Rows not relayed yet, when last counted (`checkedAt`; counted at most once per `pollIntervalMs`). */
  pending?: number;
  /** When the oldest of them was written. */
  oldestPendingAt?: Date;
  /** Its age now, in milliseconds. */
  oldestPendingAgeMs?: number;
  /** When `pending` was counted. */
  checkedAt?: Date;
  /** Rows this process handed to their queues since it started. */
  relayed: number;
  /**
   * Ordering keys (and rows without a key) held back after a failed enqueue, waiting to be tried
   * again (1 s, doubling up to 30 s); later rows of a held key wait behind it.
   */
  heldBack: number;
  /** Queues that rows name and this process does not register: their rows stay in the table. */
  unknownQueues: string[];
}

/** The relay's `ServiceStatus` (kind `'background'`, named `'outbox.relay'`), with `outbox`. */
export interface OutboxRelayStatus extends ServiceStatus {
  outbox: OutboxStatus;
}

/** One item as `WorkQueue` hands it to the outbox, before the row is written (the library's own; not exported). */
export interface OutboxEntry {
  queue: string;
  /** The item's id on its queue (given, or a new UUID): stable across relays, so a repeated relay is deduplicated. */
  itemId: string;
  orderingKey?: string;
  /** The item as JSON. */
  payload: string;
  /** Headers written by enqueue interceptors, as JSON. */
  headers?: string;
  /** `priority`, `idTtlMs`, `attempts`, `backoff`, `timeoutMs`, as JSON. */
  options?: string;
  /** Epoch ms before which the item must not run (delayMs / runAt). */
  runAt?: number;
  /** Epoch ms of the write (the host's clock). */
  createdAt: number;
}

/** A transaction handle resolved and checked: writes one row in it (the library's own; not exported). */
export interface OutboxWrite {
  /** SQLite: synchronously, returning the id (throws on failure); PostgreSQL: a promise of the id. */
  write(entry: OutboxEntry): string | Promise<string>;
  /** True when `write` is synchronous (SQLite): interceptors must then call `next` synchronously. */
  readonly synchronous: boolean;
}

/** What `WorkQueue` knows of the outbox, which `Outbox` implements (the library's own; not exported). */
export interface OutboxWriter {
  /** The store, for messages. */
  readonly store: 'sqlite' | 'postgres';
  /** Resolves `transaction` (`'ambient'`, a TransactionHost) and checks it; throws a TypeError naming `where`. */
  handle(where: string, transaction: unknown): OutboxWrite;
  /** The host's clock. */
  now(): number;
}
