/**
 * Messages of BullMQ queues on PostgreSQL (bullmq-postgres-store.ts, postgres-schema.ts), built in
 * one place so that the code, the tests and the docs quote one text.
 */
import { errorMessage } from '../../errors/thrown-value.js';
import { showValue } from '../../hosting.messages.js';

const reason = (error: unknown): string => errorMessage(error);
const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** How a queue on PostgreSQL names itself in messages. */
export const PG_QUEUE = (queue: string) => `Queue "${queue}" (bullmq on PostgreSQL)`;

export const PG_PAYLOAD_NOT_JSON = (queue: string, path: string, problem: string, fix: string) =>
  `WorkQueue.enqueue on queue "${queue}" (bullmq on PostgreSQL): ${path} ${problem}. BullMQ's PostgreSQL backend stores items as ` +
  `jsonb, so it would not reach the worker as it was given; ${fix}`;

export const PG_ITEM_OPTION_OUT_OF_RANGE = (queue: string, option: string, value: unknown, max: number) =>
  `WorkQueue.enqueue on queue "${queue}" (bullmq on PostgreSQL): option "${option}" must be at most ${max} ` +
  `(BullMQ's PostgreSQL backend keeps it in an integer column), got ${showValue(value)}`;

export const PG_OPTION_UNSUPPORTED = (queue: string, option: string, value: unknown, instead: string) =>
  `HostingModule.registerQueue(${JSON.stringify(queue)}): option "backend.${option}" (${showValue(value)}) has no meaning on PostgreSQL, ` +
  `and BullMQ's PostgreSQL backend would ignore it: ${instead}`;

export const PG_POSTGRES_TRUE_WITHOUT_ROOT = (queue: string) =>
  `HostingModule.registerQueue(${JSON.stringify(queue)}): option "backend.postgres" is true, which means HostingModule.forRoot({ postgres }), ` +
  `but forRoot was given no postgres; give the queue its own connection (backend: { type: 'bullmq', postgres: 'postgres://…' }) or set forRoot({ postgres })`;

export const PG_QUEUE_UNAVAILABLE = (queue: string, error: unknown) =>
  `Queue "${queue}": the item was not added, PostgreSQL is unreachable (${reason(error)}); try again later`;

export const PG_ENQUEUE_TIMED_OUT = (timeoutMs: number, state: string) =>
  `PostgreSQL did not confirm the item within ${timeoutMs} ms (backend.enqueueTimeoutMs); the producer connection is ${state}`;

export const PG_QUEUE_ENQUEUE_TIMED_OUT = (queue: string, timeoutMs: number, state: string) =>
  `Queue "${queue}": ${PG_ENQUEUE_TIMED_OUT(timeoutMs, state)}, so the item was not added` +
  (state === 'up' ? ' unless PostgreSQL was only slow (then it was, and a retry adds it twice)' : '') +
  '; try again later';

export const PG_CONNECTION_FAILED = (subject: string, error: unknown) =>
  `${subject}: the PostgreSQL connection cannot be made (${reason(error)}); this does not heal by retrying, ` +
  `so it is not retried: fix the connection options and restart the process`;

export const PG_WORKER_SPINNING = (queue: string, count: number, windowMs: number, error: unknown, restartInMs: number) =>
  `${PG_QUEUE(queue)} worker: stopped after ${count} errors within ${seconds(windowMs)}, which BullMQ retries without ` +
  `any delay (${reason(error)}); it restarts in ${seconds(restartInMs)} instead of spinning. Fix the cause in PostgreSQL ` +
  `(a read-only replica instead of the primary, rights taken from the role, …)`;

/** The one-off command that runs BullMQ's migrations as another role (`url` names its environment variable). */
export const PG_MIGRATION_COMMAND = (schema: string) =>
  `node -e "const pg=require('pg');const {runMigrations}=require('bullmq');const c=new pg.Client(process.env.ADMIN_DATABASE_URL);` +
  `c.connect().then(()=>runMigrations(c,'${schema}')).then(()=>c.end(),(e)=>{console.error(e);process.exit(1)})"`;

/**
 * What a role needs on BullMQ's schema once its tables exist: BullMQ's functions run with the
 * caller's rights, and the first job of each queue creates that queue's id sequence in the schema.
 */
export const PG_GRANTS = (schema: string, role: string) =>
  `GRANT USAGE, CREATE ON SCHEMA "${schema}" TO "${role}";\n` +
  `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}";\n` +
  `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "${schema}" TO "${role}";`;

export const PG_MIGRATION_REFUSED = (queue: string, role: string, database: string, schema: string, error: unknown) =>
  `${PG_QUEUE(queue)}: BullMQ's tables in schema "${schema}" of database "${database}" need creating or upgrading, and the ` +
  `role "${role}" may not do it (${reason(error)}). Either let it, once, as a superuser or the database's owner:\n` +
  `  GRANT CREATE ON DATABASE "${database}" TO "${role}";\n` +
  `or run BullMQ's migrations yourself as a role that may (ADMIN_DATABASE_URL is its postgres:// URL), then let "${role}" use the tables:\n` +
  `  ${PG_MIGRATION_COMMAND(schema)}\n` +
  PG_GRANTS(schema, role).replace(/^/gm, '  ') +
  `\nand start again (start-up runs the migrations itself whenever the role may)`;

export const PG_TABLES_NOT_GRANTED = (queue: string, role: string, database: string, schema: string, missing: readonly string[]) =>
  `${PG_QUEUE(queue)}: the role "${role}" lacks ${missing.join(', ')} on BullMQ's schema "${schema}" of database "${database}", ` +
  `so every job would fail; have the schema's owner run this, then start again:\n` +
  PG_GRANTS(schema, role).replace(/^/gm, '  ');

export const PG_POOL_SEARCH_PATH = (owner: string, current: string | null) =>
  `${owner}: a pg.Pool given as the connection is used as it is, and BullMQ's PostgreSQL backend runs its statements with ` +
  `unqualified names, so the pool's search_path must put BullMQ's schema "bullmq" first; its current schema is ` +
  `${current === null ? 'none' : JSON.stringify(current)}. Create the pool with new Pool({ …, options: '-c search_path=bullmq' }), ` +
  `or give pool options ({ connectionString, schema, … }) instead of a pool`;

export const PG_STORE_REFUSED = (queue: string, error: unknown) => `${PG_QUEUE(queue)}: ${reason(error)}`;

export const PG_BACKEND_CHANGED = (what: string) =>
  `bullmq's PostgreSQL backend has no ${what} (this version of bullmq is not one nest-hosting knows): install the bullmq version nest-hosting's peerDependencies name`;

export const QUEUE_OPEN_RETRYING = (subject: string, store: string, error: unknown, retryMs: number) =>
  `${subject}: the queue cannot open on ${store} (${reason(error)}); it tries again every ${seconds(retryMs)} or sooner, ` +
  `and enqueue fails with QueueUnavailableError until then`;

export const BACKEND_TWO_STORES = (queue: string) =>
  `BullMqQueueBackend for queue "${queue}": give connection (Redis) or postgres (PostgreSQL), not both: a queue lives in one store`;

export const POSTGRES_NO_CONNECTION = (ms: number) => `PostgreSQL is unreachable (no connection within ${ms} ms)`;
