import { showValue } from '../hosting.messages.js';
import type { PostgresConnectionOptions, PostgresPool } from '../interfaces/postgres-connection.interface.js';
import {
  INVALID_POSTGRES_CONNECTION,
  PG_PACKAGE_MISSING,
  POSTGRES_CONNECTION_WRONG_TYPE,
  POSTGRES_OPTION_INVALID,
  POSTGRES_SCHEMA_INVALID,
  POSTGRES_URL_BAD_PORT,
  POSTGRES_URL_BAD_SCHEME,
  POSTGRES_URL_EMPTY,
  POSTGRES_URL_UNPARSABLE,
} from './postgres.messages.js';

/** The `pg` module (node-postgres), loaded only by apps that use a PostgreSQL-backed feature. */
export type PgModule = typeof import('pg');

let pgModule: Promise<PgModule> | undefined;

/** Loads `pg` on first use; rejects with install guidance when it is missing. */
export function loadPg(feature = 'PostgreSQL'): Promise<PgModule> {
  pgModule ??= import('pg').then(
    // A CommonJS package imported from ESM arrives as `{ default: module.exports, …named }`.
    (mod) => ((mod as unknown as { Pool?: unknown }).Pool ? mod : (mod as unknown as { default: PgModule }).default) as PgModule,
    (error: unknown) => {
      pgModule = undefined;
      throw new Error(PG_PACKAGE_MISSING(feature, error));
    },
  );
  return pgModule;
}

const HEARD = Symbol.for('nest-hosting:pg-clients-heard');

/**
 * Gives every client `pool` opens an `'error'` listener for its whole life. pg-pool listens to idle
 * clients only, and a client it hands out has none until its user adds one; when PostgreSQL ends a
 * connection (57P01 at a shutdown) in the same network read that completed its start-up, the client
 * emits `'error'` before the `connect()` caller's code has run: an uncaught exception. The error is
 * not lost: the client's query fails, or the pool emits it for an idle client. Once per pool (the
 * app's own pool too: the clients this library checks out of it are exposed the same way).
 */
export function hearEveryClient(pool: unknown): void {
  const target = pool as { on?: (event: 'connect', listener: (client: { on(event: 'error', listener: () => void): unknown }) => void) => unknown; [HEARD]?: true };
  if (typeof target.on !== 'function' || target[HEARD]) return;
  target[HEARD] = true;
  target.on('connect', (client) => client.on('error', () => undefined));
}

/** True for a `pg.Pool` (or anything with its `query`, `connect` and `end`): the app's own pool. */
export function isPostgresPool(value: unknown): value is PostgresPool {
  return (
    typeof value === 'object' &&
    value !== null &&
    ['query', 'connect', 'end'].every((fn) => typeof (value as Record<string, unknown>)[fn] === 'function')
  );
}

/** BullMQ's rule for a schema name (`quoteSchemaName`). */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * Checks a PostgreSQL connection eagerly, so that a typo fails at start-up with its owner named: a
 * URL must parse, use postgres: or postgresql: and carry a port from 1 to 65535; options must have
 * a string `connectionString` (checked as a URL), `host`, `user`, `database`, an integer `port`
 * from 1 to 65535, a positive integer `max`, a boolean or object `ssl`, and a `schema` BullMQ
 * accepts. A `pg.Pool` is accepted as it is (the app configured and owns it). Passwords are never shown.
 *
 * @param owner Who takes the connection, as messages name it: `HostingModule.forRoot({ postgres })`,
 *   or `HostingModule.registerQueue("emails"): option "backend.postgres"`.
 */
export function assertPostgresConnection(owner: string, connection: unknown): asserts connection is PostgresConnectionOptions {
  const problem = postgresConnectionProblem(connection);
  if (problem !== undefined) throw new TypeError(INVALID_POSTGRES_CONNECTION(owner, problem));
}

/** What is wrong with a PostgreSQL connection value, or undefined when it is usable. */
export function postgresConnectionProblem(connection: unknown): string | undefined {
  if (typeof connection === 'string') return urlProblem(connection);
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) return POSTGRES_CONNECTION_WRONG_TYPE(showValue(connection));
  if (isPostgresPool(connection)) return undefined;
  const options = connection as Record<string, unknown>;
  const fail = (option: string, expected: string) =>
    POSTGRES_OPTION_INVALID(option, expected, option === 'password' ? `a value of type ${typeof options[option]}` : showValue(options[option]));
  const { connectionString, host, port, user, password, database, ssl, max, schema } = options;
  if (connectionString !== undefined) {
    if (typeof connectionString !== 'string') return fail('connectionString', 'a postgres:// or postgresql:// URL');
    const problem = urlProblem(connectionString);
    if (problem) return problem;
  }
  const nonEmpty = 'a non-empty string';
  if (host !== undefined && (typeof host !== 'string' || host.trim() === '')) return fail('host', `${nonEmpty} (a host name, an IP address or a Unix socket directory)`);
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535)) return fail('port', 'an integer from 1 to 65535 (the default is 5432)');
  if (user !== undefined && (typeof user !== 'string' || user === '')) return fail('user', nonEmpty);
  if (password !== undefined && typeof password !== 'string' && typeof password !== 'function') return fail('password', 'a string (or a function returning one)');
  if (database !== undefined && (typeof database !== 'string' || database === '')) return fail('database', nonEmpty);
  if (ssl !== undefined && typeof ssl !== 'boolean' && (typeof ssl !== 'object' || ssl === null)) return fail('ssl', 'true, false or tls.connect options');
  if (max !== undefined && !(Number.isSafeInteger(max) && (max as number) >= 1)) return fail('max', 'a positive integer');
  if (schema !== undefined && (typeof schema !== 'string' || !SCHEMA_NAME.test(schema) || Buffer.byteLength(schema) > 63)) return POSTGRES_SCHEMA_INVALID(showValue(schema));
  return undefined;
}

/** The URL as messages show it: the password masked. */
function masked(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

function urlProblem(url: string): string | undefined {
  if (url.trim() === '') return POSTGRES_URL_EMPTY();
  const shown = masked(url);
  if (!/^postgres(ql)?:\/\//i.test(url)) return POSTGRES_URL_BAD_SCHEME(shown);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const port = /^[a-z]+:\/\/(?:[^@/]*@)?[^:/]*:([^/?#]*)/i.exec(url)?.[1];
    if (port !== undefined && port !== '' && !/^\d+$/.test(port)) return POSTGRES_URL_BAD_PORT(shown, port);
    return POSTGRES_URL_UNPARSABLE(shown);
  }
  if (parsed.port !== '' && (Number(parsed.port) < 1 || Number(parsed.port) > 65_535)) return POSTGRES_URL_BAD_PORT(shown, parsed.port);
  return undefined;
}
