/**
 * Messages of the PostgreSQL-backed parts (BullMQ on PostgreSQL, exclusive periodic tasks, the
 * outbox), built in one place so that the code, the tests and the docs quote one text.
 */
import { errorMessage } from '../errors/thrown-value.js';

const reason = (error: unknown): string => errorMessage(error);

export const PG_PACKAGE_MISSING = (feature: string, error: unknown) =>
  `${feature} needs the optional package "pg", which could not be loaded (${reason(error)}): ` +
  `install it next to nest-hosting with \`npm install pg\``;

/** `<owner>: <problem>`; the owner is `HostingModule.forRoot({ postgres })` or a queue's `option "backend.postgres"`. */
export const INVALID_POSTGRES_CONNECTION = (owner: string, problem: string) => `${owner}: ${problem}`;

export const POSTGRES_CONNECTION_WRONG_TYPE = (shown: string) =>
  `the PostgreSQL connection must be a postgres:// or postgresql:// URL, pg pool options ({ connectionString, host, port, … }) or a pg.Pool, got ${shown}`;

export const POSTGRES_URL_EMPTY = () =>
  'the PostgreSQL URL is an empty string; give one such as postgres://app@127.0.0.1:5432/app (postgres://[user[:password]@]host[:port][/database])';

export const POSTGRES_URL_BAD_SCHEME = (url: string) =>
  `the PostgreSQL URL "${url}" must start with postgres:// or postgresql://; write it as postgres://[user[:password]@]host[:port][/database]`;

export const POSTGRES_URL_UNPARSABLE = (url: string) =>
  `the PostgreSQL URL "${url}" cannot be parsed; write it as postgres://[user[:password]@]host[:port][/database], e.g. postgres://app@127.0.0.1:5432/app`;

export const POSTGRES_URL_BAD_PORT = (url: string, port: string) =>
  `the PostgreSQL URL "${url}" has port "${port}", which is not a port number; give an integer from 1 to 65535, or leave it out for 5432`;

export const POSTGRES_OPTION_INVALID = (option: string, expected: string, shown: string) =>
  `the PostgreSQL option "${option}" must be ${expected}, got ${shown}`;

export const POSTGRES_SCHEMA_INVALID = (shown: string) =>
  `the PostgreSQL option "schema" must be a simple identifier (a letter or _, then letters, digits, _ or $; up to 63 bytes), got ${shown}`;

export const POSTGRES_UNREACHABLE = (subject: string, error: unknown) =>
  `${subject}: PostgreSQL is unreachable (${reason(error)}); retrying with backoff until it is back`;

export const POSTGRES_RECOVERED = (subject: string, downMs: number) => `${subject}: PostgreSQL is reachable again after ${downMs} ms`;

// Exclusive periodic tasks on PostgreSQL (distributed/postgres-exclusive-tick-gate.ts).

/** An exclusive task's line when PostgreSQL is back (the skip is `EXCLUSIVE_TICK_SKIPPED`, worded by store). */
export const EXCLUSIVE_CLAIMS_WORK_AGAIN = (subject: string, downMs: number) => `${subject}: ticks are claimed on PostgreSQL again after ${downMs} ms`;

export const POSTGRES_GATE_FAILING = (subject: string, error: unknown) =>
  `${subject}: PostgreSQL error: ${reason(error)}; ticks are skipped on this instance, and the statement is retried with backoff until it succeeds`;

export const POSTGRES_GATE_WORKS_AGAIN = (subject: string, downMs: number) =>
  `${subject}: PostgreSQL accepts the gate's statements again after ${downMs} ms`;

export const EXCLUSIVE_LEASE_LOST_POSTGRES = (task: string, error: unknown) =>
  `Exclusive periodic task "${task}": could not renew its run lease on PostgreSQL (${reason(error)}); ` +
  `another instance may start the next tick before this run ends`;

export const EXCLUSIVE_LEASE_TAKEN_OVER = (task: string, leaseMs: number) =>
  `Exclusive periodic task "${task}": its run lease on PostgreSQL lapsed (not renewed within ${leaseMs} ms: ` +
  `a blocked event loop, or the database was unreachable) and another instance holds it now, so runs may overlap`;

export const EXCLUSIVE_TABLES_REFUSED = (role: string, error: unknown, sql: string) =>
  `Exclusive periodic tasks: the PostgreSQL role "${role}" cannot create the gate's tables (${reason(error)}). ` +
  `Have a role with the rights run this once, and grant "${role}" SELECT, INSERT, UPDATE and DELETE on both tables, then start again:\n${sql}`;

export const EXCLUSIVE_TABLES_NOT_GRANTED = (role: string, missing: readonly string[], sql: string) =>
  `Exclusive periodic tasks: the PostgreSQL role "${role}" lacks ${missing.join(', ')} on the gate's tables; ` +
  `have the tables' owner run this, then start again:\n${sql}`;

export const POSTGRES_NO_CONNECTION_WITHIN = (ms: number) => `PostgreSQL is unreachable (no connection within ${ms} ms)`;

export const POSTGRES_NO_ANSWER_WITHIN = (ms: number) => `PostgreSQL did not answer within ${ms} ms`;
