/**
 * node-postgres (`pg`) pool options, described structurally so that type checking never needs `pg`
 * installed: the options the library checks at start-up are typed here; every other `pg.Pool`
 * option passes through as given.
 */
export interface PostgresPoolOptions {
  /** A `postgres://` or `postgresql://` URL that the other options complete. */
  connectionString?: string;
  host?: string;
  /** TCP port, from 1 to 65535. @default 5432 */
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** TLS: `true`, or node's `tls.connect` options. */
  ssl?: boolean | object;
  /** Most connections the pool opens. */
  max?: number;
  /**
   * The schema (namespace) BullMQ's tables live in on this database (BullMQ's `schema`): a simple
   * identifier (a letter or `_`, then letters, digits, `_` or `$`; up to 63 bytes). @default 'bullmq'
   */
  schema?: string;
}

/** A `pg.Pool` the app created, configures and closes (the library never ends it). */
export interface PostgresPool {
  query(...args: never[]): unknown;
  connect(...args: never[]): unknown;
  end(...args: never[]): unknown;
}

/**
 * A PostgreSQL connection: a `postgres://` URL (`'postgres://app:secret@db:5432/app'`), `pg` pool
 * options (`{ connectionString, schema, max, … }`), or a `pg.Pool` instance. URLs and options are
 * checked at start-up, naming where they were given.
 */
export type PostgresConnectionOptions =
  | string
  | PostgresPoolOptions
  | (PostgresPoolOptions & { readonly [option: string]: unknown })
  | PostgresPool;
