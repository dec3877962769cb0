/**
 * Messages of the transactional outbox (`HostingModule.forRoot({ outbox })`, `WorkQueue.enqueue(item,
 * { transaction })` and the relay), built in one place so that the code, the tests and the docs quote one text.
 */
import { errorMessage } from '../errors/thrown-value.js';
import { showValue } from '../hosting.messages.js';

const reason = (error: unknown): string => errorMessage(error);

export const OUTBOX_WHERE = 'HostingModule.forRoot({ outbox })';

export const OUTBOX_ONE_STORE = (where: string, sqlite: unknown, postgres: unknown) =>
  `${where}: option "outbox" must name one store, "sqlite" (a better-sqlite3 Database) or "postgres" (a URL, pg pool options or a pg.Pool), ` +
  (sqlite === undefined && postgres === undefined ? 'and names none' : 'and names both');

export const OUTBOX_NOT_SQLITE = (where: string, value: unknown) =>
  `${where}: option "outbox.sqlite" must be a better-sqlite3 Database (new Database(file)), got ${showValue(value)}`;

export const OUTBOX_SQLITE_CLOSED = (where: string, name: string) =>
  `${where}: option "outbox.sqlite" is a better-sqlite3 Database that is closed (${name}); give the app's open connection`;

export const OUTBOX_POSTGRES_TRUE_WITHOUT_POSTGRES = (where: string) =>
  `${where}: option "outbox.postgres" is true, which means HostingModule.forRoot({ postgres }), and that is not set; give the connection here or there`;

export const OUTBOX_TABLE_INVALID = (where: string, value: unknown) =>
  `${where}: option "outbox.table" must be a table name: an identifier (a letter or _, then letters, digits or _; up to 63 characters), ` +
  `or schema.table, got ${showValue(value)}`;

const EXPECTED_SQLITE = 'the better-sqlite3 Database the transaction is open on (call enqueue inside db.transaction(() => …))';
const EXPECTED_POSTGRES = 'the pg client the app ran BEGIN on (a Client or PoolClient; anything with query(text, values) on that transaction)';

export const OUTBOX_WRONG_TRANSACTION = (where: string, store: 'sqlite' | 'postgres', value: unknown) =>
  `${where}: option "transaction" must be ${store === 'sqlite' ? EXPECTED_SQLITE : EXPECTED_POSTGRES}, ` +
  `'ambient' (@nestjs-cls/transactional) or a TransactionHost, got ${describe(value)} (the outbox is on ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`;

export const OUTBOX_SQLITE_NOT_IN_TRANSACTION = (where: string, name: string) =>
  `${where}: option "transaction" is a better-sqlite3 Database (${name}) with no transaction open: ` +
  `call enqueue inside db.transaction(() => …) so that the item commits with the app's data (and rolls back with it)`;

export const OUTBOX_SQLITE_OTHER_DATABASE = (where: string, given: string, configured: string) =>
  `${where}: option "transaction" is a connection to ${given}, but the outbox is in ${configured} (HostingModule.forRoot({ outbox: { sqlite } })): ` +
  `write the item in a transaction of that database`;

export const OUTBOX_POOL_NOT_TRANSACTION = (where: string) =>
  `${where}: option "transaction" is a pg.Pool, whose query runs outside any transaction: ` +
  `pass the client the app ran BEGIN on (const client = await pool.connect(); await client.query('BEGIN'); …)`;

export const OUTBOX_AMBIENT_UNAVAILABLE = (where: string) =>
  `${where}: option "transaction" is 'ambient', but no TransactionHost of @nestjs-cls/transactional is registered in this app ` +
  `(ClsModule.forRoot({ plugins: [new ClsPluginTransactional({ adapter })] })); pass the transaction itself, or a TransactionHost`;

export const OUTBOX_AMBIENT_NOT_ACTIVE = (where: string) =>
  `${where}: option "transaction" is 'ambient' (or a TransactionHost), but no transaction is active: ` +
  `call enqueue inside a @Transactional() method or txHost.withTransaction(…)`;

export const OUTBOX_STRING_TRANSACTION = (where: string, value: string) =>
  `${where}: option "transaction" must be a transaction handle or 'ambient', got the string ${JSON.stringify(value)}`;

export const OUTBOX_SCHEMA_FAILED = (store: string, table: string, error: unknown, sql: string) =>
  `${OUTBOX_WHERE}: the outbox table ${table} could not be created on ${store} (${reason(error)}). ` +
  `Create it with a role that may (or give this one the rights), then start again:\n${sql}`;

export const OUTBOX_TABLE_MISSING_COLUMNS = (table: string, missing: readonly string[]) =>
  `${OUTBOX_WHERE}: the table ${table} exists but is not an outbox table (it lacks ${missing.join(', ')}); choose another name with option "outbox.table"`;

export const OUTBOX_UNKNOWN_QUEUE = (queue: string, table: string) =>
  `Outbox relay: rows of ${table} name queue "${queue}", which this app does not register; they stay in the table ` +
  `(register the queue in every relaying process, or relay from one that has it). HostingRegistry.get('outbox.relay') lists it`;

export const OUTBOX_ENQUEUE_FAILED = (queue: string, key: string | undefined, error: unknown, retryMs: number) =>
  `Outbox relay: handing a row to queue "${queue}" failed (${reason(error)}); ` +
  (key === undefined ? 'the row is' : `it and later rows of ordering key ${JSON.stringify(key)} are`) +
  ` tried again in ${retryMs} ms`;

export const OUTBOX_RELAY_FAILED = (table: string, error: unknown, retryMs: number) =>
  `Outbox relay: reading or marking ${table} failed (${reason(error)}); trying again in ${retryMs} ms`;

export const OUTBOX_RELAY_LEADER = (table: string) => `Outbox relay: this process relays ${table} now`;

export const OUTBOX_RELEASE_FAILED = (table: string, error: unknown) =>
  `Outbox relay: giving up the relay's claim on ${table} failed (${reason(error)}); another process takes over once it lapses`;

export const OUTBOX_POOL_END_FAILED = (error: unknown) => `Outbox: closing the relay's PostgreSQL pool failed (${reason(error)})`;

/** A value as messages show it: objects by their class, so that a client's internals are never printed. */
function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return showValue(value);
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name} instance` : showValue(value);
}
