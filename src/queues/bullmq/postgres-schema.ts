/**
 * BullMQ's PostgreSQL schema at a queue's start: checked with one read, migrated when it is missing
 * or older than this bullmq (BullMQ's own `runMigrations`, in one transaction under its advisory
 * lock, so that processes starting together migrate once), and checked for the rights the role
 * needs to use it. What cannot be fixed by waiting (the role may not create the tables, lacks rights
 * on them, a pg.Pool that does not see the schema) is refused with the statements that fix it.
 */
import type { BullMqModule } from '../../distributed/load-optional.js';
import { isPostgresConnectionError } from '../../distributed/postgres-outage.js';
import { PG_MIGRATION_REFUSED, PG_POOL_SEARCH_PATH, PG_STORE_REFUSED, PG_TABLES_NOT_GRANTED } from './bullmq-postgres.messages.js';

/** One session (a checked-out or standalone client): the migration's lock and transaction share it (BullMQ's `PgQueryable`). */
export type PgSession = Parameters<BullMqModule['runMigrations']>[0];

/** PostgreSQL's insufficient_privilege. */
const INSUFFICIENT_PRIVILEGE = '42501';

const codeOf = (error: unknown): unknown => (typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined);

/** A refusal of the schema that waiting does not fix: start-up fails with it (or, later, the queue stays closed). */
export class PostgresSchemaError extends Error {
  override readonly name = 'PostgresSchemaError';
}

/** What the role lacks on the schema's objects (empty: nothing). */
const MISSING_RIGHTS = `
  SELECT current_user::text AS role, current_database()::text AS database,
         has_schema_privilege(current_user, $1::text, 'USAGE') AS usage,
         has_schema_privilege(current_user, $1::text, 'CREATE') AS "create",
         (SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1::text AND c.relkind = 'r'
             AND NOT (has_table_privilege(current_user, c.oid, 'SELECT') AND has_table_privilege(current_user, c.oid, 'INSERT')
                  AND has_table_privilege(current_user, c.oid, 'UPDATE') AND has_table_privilege(current_user, c.oid, 'DELETE'))) AS tables,
         (SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1::text AND c.relkind = 'S' AND NOT has_sequence_privilege(current_user, c.oid, 'USAGE')) AS sequences`;

/**
 * Readies BullMQ's schema `schema` for queue `queue` on `session`. `poolOwner`, when the connection
 * is the app's `pg.Pool` (used as it is): who gave it, for the message when its search_path does not
 * reach the schema. Rejects with what the session threw while PostgreSQL is unreachable
 * (`isPostgresConnectionError`), and with a `PostgresSchemaError` naming the fix otherwise.
 */
export async function preparePostgresSchema(bull: BullMqModule, session: PgSession, queue: string, schema: string, poolOwner?: string): Promise<void> {
  try {
    if (poolOwner !== undefined) {
      const { rows } = await session.query('SELECT current_schema()::text AS schema');
      const current = ((rows[0] as { schema?: string | null } | undefined)?.schema as string | null | undefined) ?? null;
      if (current !== schema) throw new PostgresSchemaError(PG_POOL_SEARCH_PATH(poolOwner, current));
    }
    let version = 0;
    try {
      version = await bull.assertSchemaCompatibility(session, schema);
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name !== 'SchemaMigrationRequiredError') throw error;
    }
    if (version < bull.LATEST_SCHEMA_VERSION) {
      try {
        await bull.runMigrations(session, schema);
      } catch (error) {
        if (codeOf(error) !== INSUFFICIENT_PRIVILEGE) throw error;
        const { role, database } = (await session.query('SELECT current_user::text AS role, current_database()::text AS database')).rows[0] as { role: string; database: string };
        throw new PostgresSchemaError(PG_MIGRATION_REFUSED(queue, role, database, schema, error));
      }
    }
    await assertRights(session, queue, schema);
  } catch (error) {
    if (error instanceof PostgresSchemaError || isPostgresConnectionError(error)) throw error;
    if (codeOf(error) === INSUFFICIENT_PRIVILEGE) {
      // The schema is there, and the role may not even read its ledger: name what it lacks.
      await assertRights(session, queue, schema);
    }
    // BullMQ's own refusals (a schema from a newer bullmq, a PostgreSQL older than 13), and anything else.
    throw new PostgresSchemaError(PG_STORE_REFUSED(queue, error));
  }
}

/**
 * Refuses a role that lacks what BullMQ's functions need on the schema's objects (they run with the
 * caller's rights): USAGE and CREATE on the schema (a queue's first job creates its id sequence),
 * SELECT/INSERT/UPDATE/DELETE on the tables, USAGE on the sequences (the queues' ids).
 */
async function assertRights(session: PgSession, queue: string, schema: string): Promise<void> {
  const row = (await session.query(MISSING_RIGHTS, [schema])).rows[0] as { role: string; database: string; usage: boolean; create: boolean; tables: string[]; sequences: string[] };
  const missing: string[] = [];
  if (!row.usage || !row.create) missing.push(`${[!row.usage && 'USAGE', !row.create && 'CREATE'].filter(Boolean).join(' and ')} on the schema (the first job of each queue creates its id sequence there)`);
  if (row.tables.length > 0) missing.push(`SELECT, INSERT, UPDATE and DELETE on tables ${row.tables.join(', ')}`);
  if (row.sequences.length > 0) missing.push(`USAGE on sequences ${row.sequences.join(', ')}`);
  if (missing.length > 0) throw new PostgresSchemaError(PG_TABLES_NOT_GRANTED(queue, row.role, row.database, schema, missing));
}
