import type { Pool, PoolClient, PoolConfig } from 'pg';
import { hearEveryClient, isPostgresPool, loadPg } from '../distributed/postgres-connection.js';
import type { OutboxEntry, OutboxWrite } from '../interfaces/outbox-options.interface.js';
import type { PostgresConnectionOptions } from '../interfaces/postgres-connection.interface.js';
import { isSqliteDatabase } from './outbox-options.validation.js';
import { OUTBOX_POOL_NOT_TRANSACTION, OUTBOX_SCHEMA_FAILED, OUTBOX_TABLE_MISSING_COLUMNS, OUTBOX_WRONG_TRANSACTION } from './outbox.messages.js';
import {
  OUTBOX_COLUMNS,
  quoteName,
  type OutboxClaim,
  type OutboxCounts,
  type OutboxExclusions,
  type OutboxRow,
  type OutboxStore,
  type RawOutboxRow,
  toOutboxRow,
} from './outbox-store.js';

/** Connections of the relay's own pool: the relay's session, and one for start-up and counts. */
const OWN_POOL_SIZE = 2;

/** Whether `value` is a pool (a `pg.Pool`: its counters beside `connect`), not a client inside a transaction. */
function isPool(value: object): boolean {
  return isPostgresPool(value) && typeof (value as { totalCount?: unknown }).totalCount === 'number';
}

/**
 * The outbox on PostgreSQL. The app's transaction writes a row with one statement on its own client:
 * with an ordering key it first takes `pg_advisory_xact_lock(hashtext(table), hashtext(queue/key))`,
 * so writers of one key are serialized until commit and the ids of a key's rows (from an identity
 * column) are in commit order; and it calls `pg_notify(<table>, '')`, delivered when (and only if)
 * the transaction commits, which wakes the relay at once.
 *
 * The relay holds one session (from its own small pool, or from the app's `pg.Pool`): on it, the
 * leader's session-level `pg_try_advisory_lock` (one relaying process per table; released by
 * PostgreSQL when the session ends, a crash included), `LISTEN <table>`, and every read and mark.
 */
export class PostgresOutboxStore implements OutboxStore {
  readonly kind = 'postgres';
  readonly ready: Promise<void>;
  onNotified?: () => void;
  private readonly name: string;
  private readonly channel: string;
  private readonly pool: Promise<Pool>;
  private readonly ownPool: boolean;
  private session?: PoolClient;
  private leader = false;
  private readonly insertSql: string;
  private readonly insertWithKeySql: string;

  constructor(
    connection: PostgresConnectionOptions,
    readonly table: string,
  ) {
    this.name = quoteName(table);
    this.channel = table.replace('.', '_');
    this.ownPool = !isPostgresPool(connection);
    if (!this.ownPool) hearEveryClient(connection);
    this.pool = this.ownPool ? this.createPool(connection) : Promise.resolve(connection as unknown as Pool);
    const columns = 'queue, item_id, ordering_key, payload, headers, options, run_at, created_at';
    const values = `$3::json, $4::json, $5::json, to_timestamp($6::float8 / 1000), to_timestamp($7::float8 / 1000)`;
    this.insertSql =
      `WITH row AS (INSERT INTO ${this.name} (${columns}) VALUES ($1::text, $2::text, NULL, ${values}) RETURNING id) ` +
      `SELECT pg_notify(${literal(this.channel)}, '') FROM row`;
    this.insertWithKeySql =
      `WITH lock AS (SELECT pg_advisory_xact_lock(hashtext(${literal(table)}), hashtext($1::text || '/' || $8::text))), ` +
      `row AS (INSERT INTO ${this.name} (${columns}) SELECT $1::text, $2::text, $8::text, ${values} FROM lock RETURNING id) ` +
      `SELECT pg_notify(${literal(this.channel)}, '') FROM row`;
    this.ready = this.createSchema();
    this.ready.catch(() => undefined); // surfaced at module init and by writes
  }

  private async createPool(connection: PostgresConnectionOptions): Promise<Pool> {
    const pg = await loadPg('The transactional outbox on PostgreSQL');
    const given = typeof connection === 'string' ? { connectionString: connection } : { ...(connection as PoolConfig & { schema?: unknown }) };
    delete (given as { schema?: unknown }).schema; // BullMQ's, not a pg option
    const pool = new pg.Pool({ max: OWN_POOL_SIZE, ...given, allowExitOnIdle: true });
    pool.on('error', () => undefined); // an idle client's error (the server went away): the next query reports it
    hearEveryClient(pool);
    return pool;
  }

  /** The DDL, as run at start-up (and shown when it cannot run). */
  schemaSql(): string {
    const bare = this.table.split('.').at(-1)!;
    return [
      `CREATE TABLE IF NOT EXISTS ${this.name} (`,
      `  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,`,
      `  queue          text        NOT NULL,`,
      `  item_id        text        NOT NULL,`,
      `  ordering_key   text,`,
      `  payload        json        NOT NULL,`,
      `  headers        json,`,
      `  options        json,`,
      `  run_at         timestamptz,`,
      `  created_at     timestamptz NOT NULL,`,
      `  relayed_at     timestamptz,`,
      `  relay_attempts integer     NOT NULL DEFAULT 0,`,
      `  last_error     text`,
      `);`,
      `CREATE INDEX IF NOT EXISTS ${quoteName(`${bare}_pending`)} ON ${this.name} (id) WHERE relayed_at IS NULL;`,
      `CREATE INDEX IF NOT EXISTS ${quoteName(`${bare}_relayed`)} ON ${this.name} (relayed_at) WHERE relayed_at IS NOT NULL;`,
    ].join('\n');
  }

  /** Creates the table when it is missing; concurrent starts take turns (an advisory lock), as two CREATE TABLE IF NOT EXISTS can collide. */
  private async createSchema(): Promise<void> {
    const pool = await this.pool;
    const sql = this.schemaSql();
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      // Checked out, it is ours to listen to: a server that goes away mid-setup must not throw uncaught.
      client.on('error', () => undefined);
      if (!(await this.tableExists(client))) {
        await client.query('BEGIN');
        try {
          await client.query(`SELECT pg_advisory_xact_lock(hashtext(${literal(`nest-hosting outbox schema ${this.table}`)}))`);
          await client.query(sql);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }
    } catch (error) {
      client?.release(true);
      throw new Error(OUTBOX_SCHEMA_FAILED('PostgreSQL', this.table, error, sql), { cause: error });
    }
    try {
      const { rows } = await client.query<{ column_name: string }>(
        `SELECT attname AS column_name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
        [this.name],
      );
      const columns = new Set(rows.map((row) => row.column_name));
      const missing = OUTBOX_COLUMNS.filter((column) => !columns.has(column));
      if (missing.length) throw new Error(OUTBOX_TABLE_MISSING_COLUMNS(this.table, missing));
    } finally {
      client.release();
    }
  }

  private async tableExists(client: PoolClient): Promise<boolean> {
    const { rows } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [this.name]);
    return rows[0]!.exists;
  }

  writer(where: string, transaction: unknown): OutboxWrite {
    if (
      typeof transaction !== 'object' ||
      transaction === null ||
      isSqliteDatabase(transaction) ||
      typeof (transaction as { query?: unknown }).query !== 'function'
    )
      throw new TypeError(OUTBOX_WRONG_TRANSACTION(where, 'postgres', transaction));
    if (isPool(transaction)) throw new TypeError(OUTBOX_POOL_NOT_TRANSACTION(where));
    const client = transaction as { query(text: string, values?: unknown[]): unknown };
    return {
      synchronous: false,
      write: async (entry: OutboxEntry) => {
        await this.ready;
        const params = [entry.queue, entry.itemId, entry.payload, entry.headers ?? null, entry.options ?? null, entry.runAt ?? null, entry.createdAt];
        if (entry.orderingKey === undefined) await client.query(this.insertSql, params);
        else await client.query(this.insertWithKeySql, [...params, entry.orderingKey]);
        return entry.itemId;
      },
    };
  }

  /** The relay's session: opened (with LISTEN) on first use, dropped by `reset` after a failure. */
  private async relaySession(): Promise<PoolClient> {
    if (this.session) return this.session;
    const pool = await this.pool;
    const session = await pool.connect();
    session.on('error', () => {
      // The session broke (the server went away): the next statement on it fails and the relay resets it.
      if (this.session === session) this.leader = false;
    });
    session.on('notification', (message) => {
      if (message.channel === this.channel) this.onNotified?.();
    });
    this.session = session;
    return session;
  }

  async claim(): Promise<OutboxClaim> {
    if (this.leader && this.session) return 'leader';
    const session = await this.relaySession();
    const { rows } = await session.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext(${literal(`nest-hosting outbox relay ${this.table}`)})::bigint) AS ok`);
    if (!rows[0]!.ok) return 'standby';
    await session.query(`LISTEN ${quoteName(this.channel)}`);
    this.leader = true;
    return 'leader';
  }

  async read(exclusions: OutboxExclusions, limit: number): Promise<OutboxRow[]> {
    const session = await this.relaySession();
    const { rows } = await session.query<RawOutboxRow>(
      `SELECT id::text AS id, queue, item_id, ordering_key, payload::text AS payload, headers::text AS headers, options::text AS options, (extract(epoch FROM run_at) * 1000)::float8 AS run_at
       FROM ${this.name}
       WHERE relayed_at IS NULL
         AND NOT (id = ANY($1::bigint[]))
         AND NOT (queue = ANY($2::text[]))
         AND (ordering_key IS NULL OR (queue, ordering_key) NOT IN (SELECT * FROM unnest($3::text[], $4::text[])))
       ORDER BY id LIMIT $5`,
      [exclusions.ids.map(String), exclusions.queues, exclusions.keys.map(([queue]) => queue), exclusions.keys.map(([, key]) => key), limit],
    );
    return rows.map(toOutboxRow);
  }

  async markRelayed(ids: ReadonlyArray<number | string>, now: number, keep: boolean): Promise<void> {
    const session = await this.relaySession();
    const list = ids.map(String);
    if (keep) await session.query(`UPDATE ${this.name} SET relayed_at = to_timestamp($2::float8 / 1000) WHERE id = ANY($1::bigint[])`, [list, now]);
    else await session.query(`DELETE FROM ${this.name} WHERE id = ANY($1::bigint[])`, [list]);
  }

  async recordFailure(id: number | string, error: string): Promise<void> {
    const session = await this.relaySession();
    await session.query(`UPDATE ${this.name} SET relay_attempts = relay_attempts + 1, last_error = $2 WHERE id = $1::bigint`, [String(id), error]);
  }

  async sweep(cutoff: number, limit: number): Promise<number> {
    const session = await this.relaySession();
    const result = await session.query(
      `DELETE FROM ${this.name} WHERE id IN (SELECT id FROM ${this.name} WHERE relayed_at < to_timestamp($1::float8 / 1000) ORDER BY relayed_at LIMIT $2)`,
      [cutoff, limit],
    );
    return result.rowCount ?? 0;
  }

  async counts(): Promise<OutboxCounts> {
    const sql = `SELECT count(*)::int AS pending, (extract(epoch FROM min(created_at)) * 1000)::float8 AS oldest FROM ${this.name} WHERE relayed_at IS NULL`;
    // The leader counts on its session; a standby borrows a connection of the pool.
    const runner = this.leader && this.session ? this.session : await this.pool;
    const { rows } = await runner.query<{ pending: number; oldest: number | null }>(sql);
    return { pending: rows[0]!.pending, oldestAt: rows[0]!.oldest ?? undefined };
  }

  async reset(): Promise<void> {
    this.dropSession();
  }

  async release(): Promise<void> {
    // Ending the session releases the advisory lock and the LISTEN.
    this.dropSession();
  }

  async dispose(): Promise<void> {
    this.dropSession();
    if (this.ownPool) await (await this.pool.catch(() => undefined))?.end();
  }

  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    this.leader = false;
    if (!session) return;
    session.removeAllListeners('notification');
    try {
      session.release(true); // destroyed, not reused: its session-level lock and LISTEN end with it
    } catch {
      // released already (the pool ended)
    }
  }
}

/** `text` as an SQL string literal. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
