import type { LoggerService } from '@nestjs/common';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PostgresConnectionOptions } from '../interfaces/postgres-connection.interface.js';
import type { ConnectionStatus } from '../interfaces/service-status.interface.js';
import { errorMessage } from '../errors/thrown-value.js';
import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { ConnectionMonitor, type OutageMessages } from './connection-monitor.js';
import type { ExclusiveTickGate, TickClaim, TickLease } from './exclusive-tick-gate.js';
import { assertPostgresConnection, hearEveryClient, isPostgresPool, loadPg } from './postgres-connection.js';
import { isPostgresConnectionError } from './postgres-outage.js';
import {
  EXCLUSIVE_LEASE_LOST_POSTGRES,
  EXCLUSIVE_LEASE_TAKEN_OVER,
  EXCLUSIVE_TABLES_NOT_GRANTED,
  EXCLUSIVE_TABLES_REFUSED,
  POSTGRES_GATE_FAILING,
  POSTGRES_GATE_WORKS_AGAIN,
  POSTGRES_NO_ANSWER_WITHIN,
  POSTGRES_NO_CONNECTION_WITHIN,
  POSTGRES_RECOVERED,
  POSTGRES_UNREACHABLE,
} from './postgres.messages.js';

const OWNER = 'HostingModule.forRoot({ postgres })';
const SUBJECT = 'Exclusive periodic tasks';

/** The table of the tasks: one row per task, with its run lease and its last run and last success. */
export const EXCLUSIVE_TASKS_TABLE = 'nest_hosting_exclusive_tasks';
/** The table of the claimed slots: one row per (task, slot), unique, kept `slotTtlMs`. */
export const EXCLUSIVE_SLOTS_TABLE = 'nest_hosting_exclusive_slots';

/**
 * The gate's tables, as it creates them at start-up when they are missing (in the first schema of
 * the connection's `search_path`: `public` unless the role or the database says otherwise). A role
 * that may not create tables gets this SQL in its start-up error, to run by hand.
 */
export const EXCLUSIVE_TABLES_SQL = `CREATE TABLE IF NOT EXISTS ${EXCLUSIVE_TASKS_TABLE} (
  task text PRIMARY KEY,
  holder text,
  lease_expires_at timestamptz,
  last_run_at bigint,
  last_run_expires_at timestamptz,
  last_success_at bigint,
  last_success_expires_at timestamptz
);
CREATE TABLE IF NOT EXISTS ${EXCLUSIVE_SLOTS_TABLE} (
  task text NOT NULL,
  slot_key text NOT NULL,
  claimed_by text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (task, slot_key)
);`;

const grantSql = (role: string) => `GRANT SELECT, INSERT, UPDATE, DELETE ON ${EXCLUSIVE_TASKS_TABLE}, ${EXCLUSIVE_SLOTS_TABLE} TO "${role.replace(/"/g, '""')}";`;

/** Options of `PostgresExclusiveTickGate`. */
export interface PostgresExclusiveTickGateOptions {
  /** `HostingOptions.postgres`: a URL, `pg` pool options (a pool of the gate's own), or a `pg.Pool` (used as is, never ended). */
  connection: PostgresConnectionOptions;
  logger: LoggerService;
  /** Longest wait for a connection before a tick counts PostgreSQL as unreachable. @default 2000 */
  connectWaitMs?: number;
}

/** Longest wait for one statement of the gate (client side; also its `statement_timeout` and `lock_timeout`). */
const STATEMENT_TIMEOUT_MS = 2_000;
/** Connections of a pool the gate makes itself (claims of tasks due together, renewals, reads). */
const OWN_POOL_MAX = 3;
/** Backoff of the probe that looks for PostgreSQL while it is down: from the first value, doubling, up to the second. */
const PROBE_FIRST_MS = 250;
const PROBE_MAX_MS = 5_000;

const ms = (value: number) => Math.max(1, Math.ceil(value));

// The lease and the slot in one statement, run in a transaction that commits only when both were
// won: a tick that finds the task still running elsewhere leaves its slot free for the coalesced
// run that follows (PeriodicTimer semantics), and a slot that ran already leaves the lease alone.
// The task's row lock orders concurrent claims of a task; every instant is the database's clock.
// A won claim also deletes the task's expired slot rows (by primary key prefix).
const ACQUIRE = `
WITH lease AS (
  INSERT INTO ${EXCLUSIVE_TASKS_TABLE} AS t (task, holder, lease_expires_at)
  VALUES ($1, $2, clock_timestamp() + $3::double precision * interval '1 millisecond')
  ON CONFLICT (task) DO UPDATE SET holder = EXCLUDED.holder, lease_expires_at = EXCLUDED.lease_expires_at
  WHERE t.holder IS NULL OR t.lease_expires_at IS NULL OR t.lease_expires_at <= clock_timestamp()
  RETURNING t.task
), slot AS (
  INSERT INTO ${EXCLUSIVE_SLOTS_TABLE} AS s (task, slot_key, claimed_by, expires_at)
  SELECT task, $4, $2, clock_timestamp() + $5::double precision * interval '1 millisecond' FROM lease
  ON CONFLICT (task, slot_key) DO UPDATE
    SET claimed_by = EXCLUDED.claimed_by, claimed_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
    WHERE s.expires_at <= clock_timestamp()
  RETURNING s.task
), purge AS (
  DELETE FROM ${EXCLUSIVE_SLOTS_TABLE} AS p
  WHERE p.task = $1 AND p.slot_key <> $4 AND p.expires_at <= clock_timestamp() AND EXISTS (SELECT 1 FROM slot)
)
SELECT (SELECT count(*) FROM lease)::int AS lease, (SELECT count(*) FROM slot)::int AS slot`;

const RENEW = `
UPDATE ${EXCLUSIVE_TASKS_TABLE} SET lease_expires_at = clock_timestamp() + $3::double precision * interval '1 millisecond'
WHERE task = $1 AND holder = $2`;

// Ends the run lease (when still this instance's) and records the slot as the task's last run and
// the success, each only ever later (instances whose clocks lag, or a catch-up of an older slot,
// never move them back); an expired value counts as none.
const newer = (value: 'last_run' | 'last_success', param: string, table = '') =>
  `(${param}::bigint IS NOT NULL AND (${table}${value}_at IS NULL OR ${table}${value}_expires_at <= clock_timestamp() OR ${table}${value}_at < ${param}::bigint))`;
const RELEASE = `
UPDATE ${EXCLUSIVE_TASKS_TABLE} SET
  holder = CASE WHEN holder = $2 THEN NULL ELSE holder END,
  lease_expires_at = CASE WHEN holder = $2 THEN NULL ELSE lease_expires_at END,
  last_run_at = CASE WHEN ${newer('last_run', '$3')} THEN $3::bigint ELSE last_run_at END,
  last_run_expires_at = CASE WHEN ${newer('last_run', '$3')}
    THEN clock_timestamp() + $4::double precision * interval '1 millisecond' ELSE last_run_expires_at END,
  last_success_at = CASE WHEN ${newer('last_success', '$5')} THEN $5::bigint ELSE last_success_at END,
  last_success_expires_at = CASE WHEN ${newer('last_success', '$5')}
    THEN clock_timestamp() + $4::double precision * interval '1 millisecond' ELSE last_success_expires_at END
WHERE task = $1`;

const SUCCEEDED = `
INSERT INTO ${EXCLUSIVE_TASKS_TABLE} AS t (task, last_success_at, last_success_expires_at)
VALUES ($1, $2::bigint, clock_timestamp() + $3::double precision * interval '1 millisecond')
ON CONFLICT (task) DO UPDATE SET last_success_at = EXCLUDED.last_success_at, last_success_expires_at = EXCLUDED.last_success_expires_at
WHERE ${newer('last_success', '$2', 't.')}`;

const LAST_RUN = `SELECT last_run_at FROM ${EXCLUSIVE_TASKS_TABLE} WHERE task = $1 AND last_run_expires_at > clock_timestamp()`;
const LAST_SUCCESS = `SELECT last_success_at FROM ${EXCLUSIVE_TASKS_TABLE} WHERE task = $1 AND last_success_expires_at > clock_timestamp()`;

const sqlState = (error: unknown): unknown => (typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined);

/** A start-up refusal (the role may not create or use the tables): start-up fails with it. */
class TablesRefusedError extends Error {
  override name = 'TablesRefusedError';
}

/**
 * The outage lines of the gate's connection (`ConnectionMonitor`): PostgreSQL unreachable, or
 * refusing the gate's statements (a dropped table, a revoked right), and the matching line when it
 * is back. The monitor asks for `unreachable` as the outage starts and for `recovered` as it ends,
 * so the kind of the error that started it picks both.
 */
function gateOutage(): OutageMessages {
  let refused = false;
  return {
    unreachable: (subject, error) => {
      refused = !isPostgresConnectionError(error);
      return refused ? POSTGRES_GATE_FAILING(subject, error) : POSTGRES_UNREACHABLE(subject, error);
    },
    recovered: (subject, downMs) => (refused ? POSTGRES_GATE_WORKS_AGAIN(subject, downMs) : POSTGRES_RECOVERED(subject, downMs)),
  };
}

/**
 * One run per tick across instances, on PostgreSQL's own primitives, in two tables (see
 * `EXCLUSIVE_TABLES_SQL`), every instant on the database's clock (`clock_timestamp()`), so that
 * the instances' clocks do not matter:
 * - `nest_hosting_exclusive_slots` — a row per claimed slot, primary key `(task, slot_key)`: the
 *   first instance whose `INSERT … ON CONFLICT` adds it runs the slot; the row is kept `slotTtlMs`
 *   (an expired row may be claimed again), and a won claim deletes the task's expired rows.
 * - `nest_hosting_exclusive_tasks` — a row per task: the run lease (`holder`, `lease_expires_at`),
 *   taken only when free or lapsed, renewed at half its length while the run lasts and cleared when
 *   it ends (after a crash it lapses within `leaseMs`); the latest slot whose run settled
 *   (`last_run_at`) and the latest success (`last_success_at`), each only ever later and kept as
 *   long as `lastRunTtlMs`.
 * The slot and the lease are claimed in one transaction, both or neither (as the Redis gate's
 * script does). The tables are created at start-up when missing (a role that may not gets the SQL
 * in its start-up error). A `pg.Pool` given by the app is used as is and never ended; a URL or
 * options make a small pool of the gate's own, ended by `dispose`.
 *
 * A claim that cannot be made (PostgreSQL unreachable, or refusing the statement) rejects, as the
 * Redis gate's does: the tick is skipped, and `exclusiveTickRunner` says so once per task and
 * outage, worded by `store`. The gate logs its connection's outage once (`connections()`, the
 * `ConnectionMonitor` of `postgres`), and once more when it is back.
 */
export class PostgresExclusiveTickGate implements ExclusiveTickGate {
  readonly store = 'PostgreSQL';
  /** Settles once `pg` is loaded and the tables were checked (or PostgreSQL found unreachable, then the ticks wait for it); rejects with install guidance, or with the SQL to run when the role may not create the tables. */
  readonly ready: Promise<void>;
  private readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly connectWaitMs: number;
  /** The gate's connection, `postgres` in the status of exclusive tasks, with its outage log. */
  private readonly monitor: ConnectionMonitor;
  private readonly pool: Promise<Pool>;
  private readonly ownsPool: boolean;
  private tables?: Promise<void>;
  private closed = false;
  private disposed?: Promise<void>;
  /** Renewal timers of the runs in progress, stopped on dispose. */
  private readonly renewals = new Set<NodeJS.Timeout>();
  private probe?: NodeJS.Timeout;
  private probeAttempt = 0;

  constructor(private readonly options: PostgresExclusiveTickGateOptions) {
    assertPostgresConnection(OWNER, options.connection);
    this.connectWaitMs = Math.min(Math.max(options.connectWaitMs ?? 2_000, 1), MAX_TIMER_DELAY_MS); // one Node timer
    this.monitor = new ConnectionMonitor('postgres', SUBJECT, options.logger, ['main'], gateOutage());
    this.ownsPool = !isPostgresPool(options.connection);
    this.pool = this.createPool();
    this.pool.catch(() => undefined); // surfaced through `ready`
    this.ready = this.pool.then(async (pool) => {
      try {
        await this.ensureTables(pool);
        this.monitor.partUp();
      } catch (error) {
        if (error instanceof TablesRefusedError) throw error;
        this.failed(error); // unreachable at start-up: the ticks are skipped until it is back
      }
    });
    this.ready.catch(() => undefined); // surfaced by whoever awaits `ready` (the host, at start-up)
  }

  async tryAcquire(claim: TickClaim): Promise<TickLease | undefined> {
    const { task, slotKey, slotTtlMs, leaseMs } = claim;
    if (this.closed) return undefined; // stopping: no claim, and no outage
    const won = await this.use(async (client) => {
      await client.query(`BEGIN; SET LOCAL lock_timeout = ${STATEMENT_TIMEOUT_MS}; SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      const { rows } = await client.query<{ lease: number; slot: number }>(ACQUIRE, [task, this.holder, ms(leaseMs), slotKey, ms(slotTtlMs)]);
      const both = rows[0]?.lease === 1 && rows[0]?.slot === 1;
      await client.query(both ? 'COMMIT' : 'ROLLBACK');
      return both;
    });
    return won ? this.lease(claim) : undefined;
  }

  async lastRun(task: string): Promise<number | undefined> {
    const { rows } = await this.use((client) => client.query<{ last_run_at: string }>(LAST_RUN, [task]));
    return rows.length === 0 ? undefined : Number(rows[0]!.last_run_at);
  }

  async lastSuccess(task: string): Promise<number | undefined> {
    const { rows } = await this.use((client) => client.query<{ last_success_at: string }>(LAST_SUCCESS, [task]));
    return rows.length === 0 ? undefined : Number(rows[0]!.last_success_at);
  }

  async recordSuccess(task: string, succeededAt: number, ttlMs: number): Promise<void> {
    try {
      await this.use((client) => client.query(SUCCEEDED, [task, Math.round(succeededAt), ms(ttlMs)]));
    } catch {
      // PostgreSQL unreachable: the success stays local (the ticks report the outage).
    }
  }

  /** The state of the gate's connection, shown in the status of every exclusive task. */
  connections(): ConnectionStatus[] {
    return [this.monitor.status()];
  }

  dispose(): Promise<void> {
    this.closed = true;
    this.monitor.close();
    for (const renewal of this.renewals) clearInterval(renewal);
    this.renewals.clear();
    clearTimeout(this.probe);
    this.probe = undefined;
    this.disposed ??= this.pool.then(
      async (pool) => {
        if (this.ownsPool) await pool.end().catch(() => undefined);
      },
      () => undefined,
    );
    return this.disposed;
  }

  private async createPool(): Promise<Pool> {
    const pg = await loadPg(SUBJECT);
    const connection = this.options.connection;
    if (!this.ownsPool) {
      hearEveryClient(connection);
      return connection as unknown as Pool;
    }
    const given: PoolConfig & { schema?: unknown } = typeof connection === 'string' ? { connectionString: connection } : { ...(connection as PoolConfig) };
    delete given.schema; // BullMQ's schema, not a pg option
    const pool = new pg.Pool({
      max: OWN_POOL_MAX,
      // Idle connections stay open, so that the pool hears at once when the server goes away.
      idleTimeoutMillis: 0,
      keepAlive: true,
      application_name: 'nest-hosting:exclusive-ticks',
      ...given,
      connectionTimeoutMillis: this.connectWaitMs,
    });
    // An idle connection that breaks (the server stopped or restarted): down now, not at the next tick.
    pool.on('error', (error) => {
      if (this.closed) return;
      this.failed(isPostgresConnectionError(error) ? error : Object.assign(new Error(errorMessage(error)), { code: 'ECONNRESET' }));
    });
    hearEveryClient(pool);
    return pool;
  }

  /**
   * Runs `fn` on a client of the pool, once the tables are there: the wait for a connection and
   * each statement are bounded, a client whose statement failed or timed out is discarded (it may
   * be mid-transaction). Success marks the connection up; a failure marks it down (and starts the probe).
   */
  private async use<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`${SUBJECT}: the gate is closed`);
    try {
      const pool = await this.pool;
      await this.ensureTables(pool);
      const result = await this.withClient(pool, fn);
      this.monitor.partUp();
      return result;
    } catch (error) {
      if (sqlState(error) === '42P01') this.tables = undefined; // a table was dropped: made again before the next claim
      if (!this.closed) this.failed(error);
      throw error;
    }
  }

  private async withClient<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await bounded(pool.connect(), this.connectWaitMs, () => POSTGRES_NO_CONNECTION_WITHIN(this.connectWaitMs), (late) => late.release());
    let broken = false;
    // A checked-out client whose server goes away between two statements emits 'error' (the pool
    // listens only to idle ones): without a listener that would be an uncaught exception.
    const onError = () => void (broken = true);
    client.on('error', onError);
    try {
      return await bounded(fn(client), 2 * STATEMENT_TIMEOUT_MS + this.connectWaitMs, () => POSTGRES_NO_ANSWER_WITHIN(2 * STATEMENT_TIMEOUT_MS));
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Creates the tables when missing (once per gate, again after a failure), checks the role may use them, and deletes expired slot rows. */
  private ensureTables(pool: Pool): Promise<void> {
    this.tables ??= this.withClient(pool, (client) => this.setUpTables(client)).catch((error: unknown) => {
      this.tables = undefined;
      throw error;
    });
    return this.tables;
  }

  private async setUpTables(client: PoolClient): Promise<void> {
    const names = [EXCLUSIVE_TASKS_TABLE, EXCLUSIVE_SLOTS_TABLE];
    const found = await client.query<{ present: boolean; role: string }>(
      'SELECT to_regclass($1::text) IS NOT NULL AND to_regclass($2::text) IS NOT NULL AS present, current_user AS role',
      names,
    );
    const { present, role } = found.rows[0]!;
    if (!present) {
      try {
        // Serialised across instances: concurrent CREATE TABLE IF NOT EXISTS can collide in the catalog.
        await client.query(`BEGIN; SET LOCAL lock_timeout = ${STATEMENT_TIMEOUT_MS}; SELECT pg_advisory_xact_lock(hashtext('nest-hosting:exclusive-tables'))`);
        await client.query(EXCLUSIVE_TABLES_SQL);
        await client.query('COMMIT');
      } catch (error) {
        if (sqlState(error) === '42501') throw new TablesRefusedError(EXCLUSIVE_TABLES_REFUSED(role, error, `${EXCLUSIVE_TABLES_SQL}\n${grantSql(role)}`));
        throw error;
      }
    }
    const privileges = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
    const checks = names.flatMap((table, t) => privileges.map((p, i) => `has_table_privilege($${t + 1}::text, '${p}') AS c${t * 4 + i}`));
    const granted = (await client.query<Record<string, boolean>>(`SELECT ${checks.join(', ')}`, names)).rows[0]!;
    const missing = names.flatMap((table, t) => privileges.filter((_, i) => !granted[`c${t * 4 + i}`]).map((p) => `${p} on ${table}`));
    if (missing.length > 0) throw new TablesRefusedError(EXCLUSIVE_TABLES_NOT_GRANTED(role, missing, grantSql(role)));
    await client.query(`DELETE FROM ${EXCLUSIVE_SLOTS_TABLE} WHERE expires_at <= clock_timestamp()`);
  }

  /** An operation failed: the connection is down with its error, and the probe looks for the way back. */
  private failed(error: unknown): void {
    if (this.closed) return;
    this.monitor.partDown('main', error);
    this.startProbe();
  }

  /** While down, looks for PostgreSQL with backoff (also when no tick comes for a while), so that the status and the log say when it is back. */
  private startProbe(): void {
    if (this.probe || this.closed) return;
    const delay = Math.min(PROBE_FIRST_MS * 2 ** this.probeAttempt, PROBE_MAX_MS);
    this.probe = setTimeout(() => {
      this.use((client) => client.query('SELECT 1')).then(
        () => {
          this.probe = undefined;
          this.probeAttempt = 0;
        },
        () => {
          this.probe = undefined;
          this.probeAttempt++;
          if (this.monitor.isDown) this.startProbe();
        },
      );
    }, delay);
    this.probe.unref();
  }

  private lease({ task, leaseMs, slotAt, lastRunTtlMs }: TickClaim): TickLease {
    let released: Promise<void> | undefined;
    let warned = false;
    let renewing = false;
    const warn = (message: string) => {
      if (warned || released) return;
      warned = true;
      this.options.logger.warn(message);
    };
    const renew = setInterval(() => {
      if (renewing) return;
      renewing = true;
      this.use((client) => client.query(RENEW, [task, this.holder, ms(leaseMs)]))
        .then(
          (result) => {
            if (result.rowCount === 0) warn(EXCLUSIVE_LEASE_TAKEN_OVER(task, ms(leaseMs)));
          },
          (error: unknown) => warn(EXCLUSIVE_LEASE_LOST_POSTGRES(task, error)),
        )
        .finally(() => (renewing = false));
    }, Math.max(leaseMs / 2, 50));
    renew.unref();
    this.renewals.add(renew);
    return {
      release: (succeededAt?: number) => {
        clearInterval(renew);
        this.renewals.delete(renew);
        const ttl = ms(lastRunTtlMs ?? leaseMs);
        const params = [task, this.holder, slotAt === undefined ? null : Math.round(slotAt), ttl, succeededAt === undefined ? null : Math.round(succeededAt)];
        released ??= this.use((client) => client.query(RELEASE, params)).then(
          () => undefined,
          () => undefined, // the lease lapses on its own
        );
        return released;
      },
    };
  }
}

/**
 * `promise`, or a rejection with an ETIMEDOUT error saying `message()` once `timeoutMs` passed (a
 * real timer: it bounds a wait on the network). A value that arrives too late goes to `late`.
 */
function bounded<T>(promise: Promise<T>, timeoutMs: number, message: () => string, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(Object.assign(new Error(message()), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    timer.unref(); // the socket it bounds holds the process, not this timer
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (done) late?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!done) reject(error);
      },
    );
  });
}
