import { assertPostgresConnection } from '../distributed/postgres-connection.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import type { OutboxOptions, SqliteDatabase } from '../interfaces/outbox-options.interface.js';
import type { PostgresConnectionOptions } from '../interfaces/postgres-connection.interface.js';
import { bindNumber, OptionsValidator, type OptionsSource } from '../validation/options-validator.js';
import {
  OUTBOX_NOT_SQLITE,
  OUTBOX_ONE_STORE,
  OUTBOX_POSTGRES_TRUE_WITHOUT_POSTGRES,
  OUTBOX_SQLITE_CLOSED,
  OUTBOX_TABLE_INVALID,
} from './outbox.messages.js';

const OUTBOX_KEYS = ['sqlite', 'postgres', 'table', 'pollIntervalMs', 'batchSize', 'keepRelayedMs', 'relay'] as const;
export const DEFAULT_OUTBOX_TABLE = 'nest_hosting_outbox';
const POLL_RULE = { min: 10, max: 3_600_000 };
const MAX_BATCH_SIZE = 10_000;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Whether `value` looks like a better-sqlite3 `Database` (its methods and flags). */
export function isSqliteDatabase(value: unknown): value is SqliteDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const db = value as Record<string, unknown>;
  return (
    ['prepare', 'exec', 'transaction', 'pragma'].every((fn) => typeof db[fn] === 'function') &&
    typeof db.inTransaction === 'boolean' &&
    typeof db.name === 'string' &&
    typeof db.open === 'boolean'
  );
}

/** Whether `table` is a usable table name: an identifier, or `schema.table`. */
export const isOutboxTable = (table: unknown): table is string =>
  typeof table === 'string' && table.split('.').length <= 2 && table.split('.').every((part) => IDENTIFIER.test(part));

/**
 * Checks `HostingModule.forRoot({ outbox })` (or what a `forRootAsync` factory returned): one store,
 * a usable table name, bounded durations and sizes. Returns the options with configuration strings
 * bound (`"500"` → 500, `"false"` → false). Throws a TypeError naming `where`, the option and the value.
 */
export function validateOutboxOptions(where: string, outbox: unknown, source: OptionsSource, hosting: HostingOptions | undefined): OutboxOptions {
  const check = OptionsValidator.for(where, outbox, OUTBOX_KEYS, 'outbox.', source);
  const { sqlite, postgres } = (outbox ?? {}) as OutboxOptions;
  if ((sqlite === undefined) === (postgres === undefined)) throw new TypeError(OUTBOX_ONE_STORE(where, sqlite, postgres));
  if (sqlite !== undefined) {
    if (!isSqliteDatabase(sqlite)) throw new TypeError(OUTBOX_NOT_SQLITE(where, sqlite));
    if (!sqlite.open) throw new TypeError(OUTBOX_SQLITE_CLOSED(where, sqlite.name));
  }
  if (postgres === true) {
    if (hosting?.postgres === undefined) throw new TypeError(OUTBOX_POSTGRES_TRUE_WITHOUT_POSTGRES(where));
  } else if (postgres !== undefined) {
    assertPostgresConnection(`${where}: option "outbox.postgres"`, postgres);
  }
  const table = (outbox as OutboxOptions).table;
  if (table !== undefined && !isOutboxTable(table)) throw new TypeError(OUTBOX_TABLE_INVALID(where, table));
  const bound: Record<string, unknown> = { ...(outbox as object) };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) bound[key] = value;
  };
  set('pollIntervalMs', check.duration('pollIntervalMs', POLL_RULE));
  set(
    'batchSize',
    check.check<number>('batchSize', (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_BATCH_SIZE, `an integer from 1 to ${MAX_BATCH_SIZE}`, bindNumber),
  );
  set('keepRelayedMs', check.duration('keepRelayedMs'));
  set('relay', check.boolean('relay'));
  return bound as OutboxOptions;
}

/** The outbox's options with their defaults, as the relay and the writer use them. */
export interface ResolvedOutboxOptions {
  store: 'sqlite' | 'postgres';
  sqlite?: SqliteDatabase;
  postgres?: PostgresConnectionOptions;
  table: string;
  pollIntervalMs: number;
  batchSize: number;
  keepRelayedMs: number;
  relay: boolean;
}

/** `forRoot`'s outbox (validated already) with defaults applied; undefined when there is none. */
export function resolveOutboxOptions(hosting: HostingOptions | undefined): ResolvedOutboxOptions | undefined {
  const outbox = hosting?.outbox;
  if (outbox === undefined) return undefined;
  const store = outbox.sqlite !== undefined ? 'sqlite' : 'postgres';
  return {
    store,
    sqlite: outbox.sqlite,
    postgres: outbox.postgres === true ? hosting?.postgres : outbox.postgres,
    table: outbox.table ?? DEFAULT_OUTBOX_TABLE,
    pollIntervalMs: outbox.pollIntervalMs ?? (store === 'sqlite' ? 1_000 : 5_000),
    batchSize: outbox.batchSize ?? 100,
    keepRelayedMs: outbox.keepRelayedMs ?? 0,
    relay: outbox.relay ?? hosting?.enabled?.background !== false,
  };
}
