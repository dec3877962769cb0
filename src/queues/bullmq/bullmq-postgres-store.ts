import type { LoggerService } from '@nestjs/common';
import type { Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { ConnectionMonitor } from '../../distributed/connection-monitor.js';
import { ErrorLogThrottle } from '../../distributed/error-log-throttle.js';
import type { BullMqModule } from '../../distributed/load-optional.js';
import { assertPostgresConnection, hearEveryClient, isPostgresPool, loadPg, type PgModule } from '../../distributed/postgres-connection.js';
import { PostgresListener, type PgListenSession } from '../../distributed/postgres-listener.js';
import { isPostgresConnectionError, POSTGRES_OUTAGE, postgresWorded } from '../../distributed/postgres-outage.js';
import type { PostgresConnectionOptions } from '../../interfaces/postgres-connection.interface.js';
import type { QueueRateLimit } from '../../interfaces/queue-options.interface.js';
import type { ItemOptions } from '../queue-backend.interface.js';
import { raceAbort, settlesWithin } from './bounded-waits.js';
import {
  PG_BACKEND_CHANGED,
  PG_CONNECTION_FAILED,
  PG_ENQUEUE_TIMED_OUT,
  PG_ITEM_OPTION_OUT_OF_RANGE,
  PG_QUEUE_ENQUEUE_TIMED_OUT,
  PG_QUEUE_UNAVAILABLE,
  PG_WORKER_SPINNING,
  POSTGRES_NO_CONNECTION,
} from './bullmq-postgres.messages.js';
import type { BullMqStore, CancelListener, ConnectionWatch, StoreMessages, WatchedKind, WatchHooks } from './bullmq-store.js';
import { assertJsonPayload } from './json-payload.js';
import { preparePostgresSchema, type PgSession } from './postgres-schema.js';
import { QueueWidePause } from './queue-wide-pause.js';

/** BullMQ's schema when the connection names none (BullMQ's `DEFAULT_SCHEMA`). */
export const DEFAULT_POSTGRES_SCHEMA = 'bullmq';
/** The largest value of a PostgreSQL `integer`, the type of BullMQ's attempt and limiter columns. */
export const PG_INTEGER_MAX = 2_147_483_647;
/**
 * How long the start-up's session, a probe and the cancel listener's session wait for PostgreSQL
 * before the attempt counts as failed (`pg` waits for ever by default: an unreachable host would
 * hold them as long as the OS tries). The queue's pool itself keeps the connection's own
 * `connectionTimeoutMillis` (none by default): under load its callers wait for a free session.
 */
const CONNECT_TIMEOUT_MS = 5_000;
/** The pool's size unless the connection says (`max`): pg's default, raised for a worker's concurrency (`workerStarting`). */
const DEFAULT_POOL_MAX = 10;
/** Sessions a worker's pool needs beside its concurrency: the fetch, its LISTEN, lock renewal and the stalled check, the producer's. */
const POOL_SPARE = 4;
/** How often a connection that is down is probed (one `SELECT 1`) until it answers. */
const PROBE_MS = 1_000;
/**
 * How long BullMQ's worker waits before fetching again after a connection error (its own default,
 * 15 s, is for Redis, whose client queues commands while it reconnects; a PostgreSQL pool fails
 * each query at once instead).
 */
const WORKER_RETRY_MS = 1_000;
/**
 * Sessions of the queue's pool opened at start, each with BullMQ's fetch compiled (PostgreSQL plans
 * a function's statements on a session's first call: tens of milliseconds): a worker's first fetch,
 * its wait's probes and its first completion then find warm sessions.
 */
const WARM_SESSIONS = 5;
/** Longest start-up wait for the warm-up (it is skipped past it). */
const WARM_UP_TIMEOUT_MS = 5_000;
/**
 * The channel of cancels (one per database: LISTEN/NOTIFY channels are not in a schema). The payload
 * is `[schema, queue, jobId]` as JSON, so a process hears only its own queue's cancels.
 */
const CANCEL_CHANNEL = 'nest_hosting_cancel';
/** `handBack`: an active job held by `$3` back to waiting, in its place; BullMQ's wake-up and event. */
const HAND_BACK = `
  WITH moved AS (
    UPDATE job SET state = 'waiting', lock_token = NULL, locked_until_ms = NULL
     WHERE queue = $1 AND id = $2 AND state = 'active' AND ($3 = '0' OR lock_token = $3)
    RETURNING id
  )
  SELECT pg_notify('bullmq_jobs', $1), publish_event($1, 'waiting', jsonb_build_object('jobId', id, 'prev', 'active')) FROM moved`;
/** `liftPause`: the queue-wide limit `pauseAll` set (`max` = `$2` and its `duration`), once no window holds at `$3`. */
const LIFT_PAUSE = `
  DELETE FROM meta m
   WHERE m.queue = $1 AND m.field IN ('max', 'duration')
     AND EXISTS (SELECT 1 FROM meta x WHERE x.queue = $1 AND x.field = 'max' AND x.value = $2)
     AND NOT EXISTS (SELECT 1 FROM rate_limit r WHERE r.queue = $1 AND r.expire_at_ms > $3::bigint AND r.points >= $2::bigint)`;
/** Connection options of BullMQ's own (and of `pg.Pool`'s) that a `pg.Client` of ours leaves out. */
const BULLMQ_KEYS = ['schema', 'migrate', 'skipMigrations', 'skipVersionCheck'];

const MESSAGES: StoreMessages = {
  unavailable: PG_QUEUE_UNAVAILABLE,
  enqueueTimedOut: PG_ENQUEUE_TIMED_OUT,
  queueEnqueueTimedOut: PG_QUEUE_ENQUEUE_TIMED_OUT,
  connectionFailed: PG_CONNECTION_FAILED,
  workerSpinning: PG_WORKER_SPINNING,
};

/** What this store asks of BullMQ's `PostgresQueueBackend` beyond its interface (its pool, with the schema on the search_path). */
interface PgBackend {
  query(text: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** A session of ours: a standalone client (`end`) or one checked out of the pool (`release`). */
type OwnSession = PgListenSession & PgSession & { end?(): Promise<void>; release?(destroy?: boolean): void; off?(event: 'error', listener: (error: Error) => void): unknown };

/** A `pg.Pool` (the queue's own, or the app's), as far as this store uses it. */
interface PoolLike {
  connect(): Promise<OwnSession>;
  end(): Promise<void>;
}

/** BullMQ's `PostgresQueueBackend` and its `PostgresConnection`, as far as the factory sets their schema. */
interface SchemaHolder {
  schema: string;
  connection?: { schema: string };
}

/** Statements on the pool of one of the queue's BullMQ objects (its schema on the search_path), or of a job's (its worker's). */
function backendQuery(target: Queue | Worker | QueueEvents | Job): PgBackend['query'] {
  const backend = ('getBackend' in target ? target.getBackend() : (target as unknown as { backend: unknown }).backend) as Partial<PgBackend>;
  const query = backend?.query;
  if (typeof query !== 'function') throw new Error(PG_BACKEND_CHANGED('query method'));
  return (text, params) => query.call(backend, text, params);
}

/**
 * BullMQ on PostgreSQL: BullMQ's `createPostgresBackend` for every class, all three (`Queue`,
 * `Worker`, `QueueEvents`) on ONE `pg.Pool` per queue and process: the queue's own, made from the
 * connection (a URL becomes `{ connectionString }`; options pass through, `schema` becomes the pool's
 * search_path), ended when the queue is disposed; or the app's `pg.Pool`, used as it is and never
 * ended here. BullMQ would give each class a pool of its own (up to 10 sessions each). The `Worker`
 * and `QueueEvents` each hold one session of the pool for their LISTEN. The schema is migrated at
 * start (postgres-schema.ts). The cancel channel is a LISTEN session of its own per process with a
 * worker (postgres-listener.ts: a standalone client, no slot of the pool), and NOTIFY on the pool.
 *
 * node-postgres reports no connection events as ioredis does (a pool connects per query), so a
 * connection goes down on the errors of its calls and of its sessions, and a probe (`SELECT 1` every
 * second) brings it back up once PostgreSQL answers.
 */
export class PostgresStore implements BullMqStore {
  readonly storeName = 'PostgreSQL';
  readonly label = 'bullmq on PostgreSQL';
  readonly messages = MESSAGES;
  readonly outage = POSTGRES_OUTAGE;
  /** BullMQ's connections of the worker (its pool and its LISTEN session), and the cancel listener's session. */
  readonly workerParts = ['main', 'cancel'] as const;
  readonly workerOptions = { runRetryDelay: WORKER_RETRY_MS };
  /** BullMQ's PostgreSQL backend takes a limit as an `integer`; `Queue.rateLimit` sets the window's count above it. */
  readonly unlimitedMax = PG_INTEGER_MAX;
  /** A handler's `RateLimitedError` on workers without a limiter: a queue-wide limit for the pause only. */
  private readonly pause = new QueueWidePause(PG_INTEGER_MAX, (queue) => this.liftPause(queue));
  readonly ownsProducer = false;
  readonly ownsWorker = false;
  /** BullMQ's schema for this queue. */
  readonly schema: string;
  /** The app's pool, or the queue's own once `prepare` made it. */
  private pool?: PoolLike;
  /** True for the app's pool: never ended here. */
  private readonly appPool: boolean;
  /** The queue's own pool's options (the connection's, less BullMQ's keys). */
  private readonly poolConfig?: Record<string, unknown>;
  /** A standalone `pg.Client`'s options for the sessions of ours: the pool's, with a connect timeout unless given. */
  private readonly clientConfig?: Record<string, unknown>;
  /** The connection sets the pool's `max`: it is not raised for a worker's concurrency. */
  private sizedByUser = false;
  private pg?: PgModule;

  /** `owner` names who gave `connection`, in start-up errors. */
  constructor(
    private readonly queueName: string,
    private readonly owner: string,
    connection: PostgresConnectionOptions,
  ) {
    assertPostgresConnection(owner, connection);
    this.appPool = isPostgresPool(connection);
    if (this.appPool) {
      this.pool = connection as unknown as PoolLike;
      hearEveryClient(this.pool);
      this.schema = DEFAULT_POSTGRES_SCHEMA;
      return;
    }
    const given: Record<string, unknown> = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
    this.schema = typeof given.schema === 'string' ? given.schema : DEFAULT_POSTGRES_SCHEMA;
    this.sizedByUser = given.max !== undefined;
    this.poolConfig = Object.fromEntries(Object.entries({ keepAlive: true, ...given }).filter(([key]) => !BULLMQ_KEYS.includes(key)));
    this.clientConfig = { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...this.poolConfig };
  }

  /** A worker with `concurrency` starts: the queue's own pool grows to it (unless the connection set its `max`), and a stale queue-wide limit goes (`liftPause`). */
  workerStarting(queue: Queue, concurrency: number): void {
    void this.liftPause(queue);
    const options = (this.pool as { options?: { max?: number } } | undefined)?.options;
    if (this.appPool || this.sizedByUser || !options) return;
    options.max = Math.max(options.max ?? DEFAULT_POOL_MAX, concurrency + POOL_SPARE);
  }

  /** The queue's pool (BullMQ's `connection` option takes a `pg.Pool`): set once `prepare` succeeded. */
  get producerConnection(): unknown {
    return this.pool;
  }

  get workerConnection(): unknown {
    return this.pool;
  }

  /**
   * BullMQ's `createPostgresBackend`, with the queue's schema (given a pool, BullMQ takes its default
   * schema for granted: its start-up check reads the ledger there, where the pool's search_path,
   * set from `schema` for the queue's own pool, says which schema the statements use), its
   * statements tried again when PostgreSQL aborted them for a deadlock or a serialization failure
   * (`retryAborted`), and the retention of finished jobs kept out of the finishing transaction
   * (`trimOutsideFinish`: in it, concurrent finishes deadlock on the rows they trim).
   */
  backendFactory(bull: BullMqModule): unknown {
    const schema = this.schema;
    return (...args: Parameters<BullMqModule['createPostgresBackend']>) => {
      const backend = bull.createPostgresBackend(...args) as unknown as SchemaHolder & Partial<PgBackend> & Partial<FinishingBackend>;
      backend.schema = schema;
      if (backend.connection) backend.connection.schema = schema;
      const query = backend.query;
      if (typeof query !== 'function') throw new Error(PG_BACKEND_CHANGED('query method'));
      const once = query.bind(backend);
      backend.query = retryAborted(once);
      trimOutsideFinish(backend, args[0], once);
      return backend;
    };
  }

  /**
   * `@QueueWorker`'s limiter, or none: a limiter makes each fetch of BullMQ's PostgreSQL backend take
   * a queue-wide lock and write the window's counter (a fifth of the throughput of a busy worker),
   * so `pauseAll` sets a queue-wide limit only while a pause needs it.
   */
  limiterOf(limiter: QueueRateLimit | undefined): { max: number; duration: number } | undefined {
    return limiter ? { max: limiter.max, duration: limiter.durationMs } : undefined;
  }

  /** `Queue.rateLimit`, under a queue-wide limit for workers without one of their own (`QueueWidePause`). */
  pauseAll(queue: Queue, retryAfterMs: number, limited: boolean): Promise<void> {
    return this.pause.pause(queue, retryAfterMs, limited);
  }

  /**
   * Removes the queue-wide limit `pauseAll` set (its `max` only: one the app set itself stays), unless
   * a window still holds (another process's later pause: that one lifts it). Also run as a worker
   * starts, for a limit a process that died mid-pause left.
   */
  async liftPause(queue: Queue): Promise<void> {
    await backendQuery(queue)(LIFT_PAUSE, [queue.name, String(PG_INTEGER_MAX), Date.now()]).catch(() => undefined);
  }

  /** Opens warm sessions in the queue's pool (`WARM_SESSIONS`), bounded, errors ignored. */
  async opened(queue: Queue): Promise<void> {
    const warm = (async () => {
      await queue.waitUntilReady();
      const idle = queue.getBackend().forQueue(`${this.queueName}:nest-hosting-warm-up`);
      await Promise.all(Array.from({ length: WARM_SESSIONS }, () => idle.moveToActive('nest-hosting-warm-up')));
    })();
    await settlesWithin(warm.catch(() => undefined), WARM_UP_TIMEOUT_MS);
  }

  /** Ends the queue's own pool (the app's is the app's). */
  async dispose(): Promise<void> {
    this.pause.dispose();
    const pool = this.pool;
    if (!pool || this.appPool) return;
    this.pool = undefined;
    await settlesWithin(pool.end().catch(() => undefined), CONNECT_TIMEOUT_MS);
  }

  throttle(logger: LoggerService, subject: string): ErrorLogThrottle {
    return new ErrorLogThrottle(postgresWorded(logger, subject), subject);
  }

  isConnectionError(error: unknown): boolean {
    return isPostgresConnectionError(error);
  }

  checkItem(queue: string, item: unknown, root: string): void {
    assertJsonPayload(queue, item, root, true);
  }

  checkItemOptions(queue: string, options: ItemOptions): void {
    const { attempts } = options;
    if (attempts !== undefined && attempts > PG_INTEGER_MAX) throw new TypeError(PG_ITEM_OPTION_OUT_OF_RANGE(queue, 'attempts', attempts, PG_INTEGER_MAX));
  }

  /** Loads `pg` and makes the queue's pool (once), then checks (and migrates) the schema on one session of the pool. */
  async prepare(bull: BullMqModule): Promise<void> {
    const pg = (this.pg ??= await loadPg(`${this.owner}: BullMQ on PostgreSQL`));
    this.pool ??= this.makePool(pg);
    const session = await this.connectWithin(this.pool!);
    let broken = true;
    // Checked out, it is ours to listen to: a server that goes away mid-migration must not throw uncaught.
    const onError = () => undefined;
    session.on('error', onError);
    try {
      await preparePostgresSchema(bull, session, this.queueName, this.schema, this.appPool ? this.owner : undefined);
      broken = false;
    } catch (error) {
      broken = isPostgresConnectionError(error);
      throw error;
    } finally {
      session.off?.('error', onError);
      session.release?.(broken);
    }
  }

  /**
   * The queue's own pool: the connection's options (less BullMQ's), its schema first on the
   * search_path of every session (BullMQ's statements use unqualified names), and an error listener
   * (an idle session that PostgreSQL closes reports it on the pool; BullMQ's classes hear it too).
   */
  private makePool(pg: PgModule): PoolLike {
    const config = this.poolConfig!;
    const searchPath = `-c search_path="${this.schema}"`;
    const options = typeof config.options === 'string' && config.options !== '' ? `${config.options} ${searchPath}` : searchPath;
    const pool = new pg.Pool({ max: DEFAULT_POOL_MAX, ...config, options } as ConstructorParameters<PgModule['Pool']>[0]);
    pool.on('error', () => undefined);
    hearEveryClient(pool);
    return pool as unknown as PoolLike;
  }

  /**
   * A session of `pool` within `CONNECT_TIMEOUT_MS` (a host that does not answer would hold the
   * start-up as long as the OS tries): past it, a connection error; the session, if it comes later,
   * goes back to the pool.
   */
  private connectWithin(pool: PoolLike): Promise<OwnSession> {
    const connecting = pool.connect();
    return raceAbort(connecting, AbortSignal.timeout(CONNECT_TIMEOUT_MS)).catch((error: unknown) => {
      if ((error as { name?: unknown } | null)?.name !== 'TimeoutError') throw error;
      connecting.then((late) => late.release?.(), () => undefined);
      throw Object.assign(new Error(POSTGRES_NO_CONNECTION(CONNECT_TIMEOUT_MS)), { code: 'ETIMEDOUT' });
    });
  }

  /**
   * The `main` part of `monitor`: up once `target` is ready; down on a connection error of its calls
   * (`failed`) or of its pool and sessions (its `error` events, heard first), then probed every second.
   */
  watch(target: Queue | Worker | QueueEvents, _kind: WatchedKind, monitor: ConnectionMonitor, hooks: WatchHooks): ConnectionWatch {
    const query = backendQuery(target);
    let closed = false;
    let probing = false;
    let timer: NodeJS.Timeout | undefined;
    const live = () => !closed && hooks.current();
    const up = () => {
      if (!live()) return;
      probing = false;
      clearTimeout(timer);
      monitor.partUp('main');
    };
    // One probe at a time, and the next second's goes ahead of one still waiting for a connection.
    let asking = false;
    const probe = () => {
      timer = setTimeout(() => {
        if (!live() || !probing) return;
        probe();
        if (asking) return;
        asking = true;
        query('SELECT 1').then(
          () => {
            asking = false;
            up();
          },
          (error: unknown) => {
            asking = false;
            if (live() && probing && isPostgresConnectionError(error)) monitor.partDown('main', error);
          },
        );
      }, PROBE_MS);
      timer.unref();
    };
    const failed = (error: unknown): boolean => {
      if (!isPostgresConnectionError(error)) return false;
      if (typeof error === 'object' && error !== null) hooks.seen.add(error);
      if (!live()) return true;
      monitor.partDown('main', error);
      if (!probing) {
        probing = true;
        probe();
      }
      return true;
    };
    target.waitUntilReady().then(up, (error: unknown) => {
      if (live()) hooks.initFailed(error, isPostgresConnectionError(error));
    });
    const onError = (error: unknown) => void failed(error);
    target.prependListener('error', onError);
    return {
      failed,
      succeeded: up,
      close: () => {
        closed = true;
        clearTimeout(timer);
        target.removeListener('error', onError);
      },
    };
  }

  /**
   * Back to waiting in its place: BullMQ's own `moveToWait` on PostgreSQL gives the job a new place
   * at the end of the queue (behind every item enqueued after it), where Redis puts it at the front.
   * The job keeps its place in the order (its `seq`, which a fetch does not change), wakes the
   * workers as an add does, and writes the event `waiting` as BullMQ's does. A job this worker no
   * longer holds (its claim lapsed and another took it) is left alone.
   */
  async handBack(job: Job, token: string | undefined): Promise<void> {
    await backendQuery(job)(HAND_BACK, [job.queueName, job.id, token ?? '0']);
  }

  /** `handBack` first: BullMQ's own hand-back then finds the job waiting and leaves it in its place (it still answers the window's rest). */
  handBackLimited(job: Job, token: string | undefined): Promise<void> {
    return this.handBack(job, token);
  }

  /**
   * `queue.remove(id)`, keeping what is left of an `idTtlMs`: BullMQ deletes a removed job's
   * deduplication row, but an id enqueued with `idTtlMs` stays taken that long whatever became of its
   * item (cancelled or discarded included). The row's expiry is read first and put back after.
   */
  async removeKeepingIdTtl(queue: Queue, id: string): Promise<number> {
    const query = backendQuery(queue);
    const held = await query('SELECT expire_at_ms::text AS until FROM dedup WHERE queue = $1 AND dedup_id = $2 AND job_id = $2 AND expire_at_ms IS NOT NULL', [
      queue.name,
      id,
    ]);
    const until = held.rows[0]?.until as string | undefined;
    const removed = await queue.remove(id);
    if (removed === 1 && until !== undefined && Number(until) > Date.now())
      await query('INSERT INTO dedup (queue, dedup_id, job_id, expire_at_ms) VALUES ($1, $2, $2, $3::bigint) ON CONFLICT (queue, dedup_id) DO NOTHING', [queue.name, id, until]);
    return removed;
  }

  async lastEventId(queue: Queue): Promise<string> {
    const { rows } = await backendQuery(queue)('SELECT coalesce(max(id), 0)::text AS id FROM event WHERE queue = $1', [queue.name]);
    return (rows[0]?.id as string | undefined) ?? '0';
  }

  /** A LISTEN session of its own on `nest_hosting_cancel`, reconnected when lost (its state is part `part` of `monitor`). */
  listenForCancels(queue: Queue, onCancel: (id: string) => void, monitor: ConnectionMonitor, part: string, seen: WeakSet<object>): CancelListener {
    const listener = new PostgresListener({
      channel: CANCEL_CHANNEL,
      open: () => this.openSession(),
      close: (session) => this.closeSession(session as OwnSession, true),
      onNotification: (payload) => {
        const cancel = parseCancel(payload);
        if (cancel && cancel[0] === this.schema && cancel[1] === queue.name) onCancel(cancel[2]);
      },
      onUp: () => monitor.partUp(part),
      onDown: (error) => {
        if (typeof error === 'object' && error !== null) seen.add(error);
        monitor.partDown(part, error);
      },
    });
    listener.start();
    return listener;
  }

  /** NOTIFY on the producer's pool (no listener needed). */
  async publishCancel(queue: Queue, id: string): Promise<void> {
    await backendQuery(queue)('SELECT pg_notify($1, $2)', [CANCEL_CHANNEL, JSON.stringify([this.schema, queue.name, id])]);
  }

  /**
   * A session of its own, for LISTEN: a standalone client, no slot of the pool (for the app's pool,
   * with the options it makes its clients with: `pool.options`; one of its sessions when it has none).
   */
  private async openSession(): Promise<OwnSession> {
    const appOptions = this.appPool ? (this.pool as { options?: Record<string, unknown> }).options : undefined;
    if (this.appPool && appOptions === undefined) return this.connectWithin(this.pool!);
    const config = appOptions ? { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...appOptions } : this.clientConfig;
    const client = new this.pg!.Client(config) as unknown as OwnSession & { connect(): Promise<void> };
    // A client that fails to connect reports its error here, and maybe once more as an event.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      void client.end?.().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /** Ends a standalone client; returns a pool's session to it (destroyed when `broken`). */
  private closeSession(session: OwnSession, broken: boolean): void {
    if (session.release) session.release(broken);
    else void session.end?.().catch(() => undefined);
  }
}

/** SQLSTATEs of a statement PostgreSQL aborted to let another transaction through: deadlock_detected, serialization_failure. */
const ABORTED_FOR_ANOTHER = new Set(['40P01', '40001']);
/** Tries of a statement that PostgreSQL keeps aborting so, the first included. */
const ABORTED_TRIES = 5;

/**
 * `query` tried again, after a short random pause, when PostgreSQL aborted it for a deadlock with
 * another or a serialization failure. BullMQ's backend sends each operation as one statement (one
 * call of one of its functions) through `pool.query`, outside any BEGIN: a transaction of its own,
 * which the abort rolled back whole, so that trying the statement again is trying the operation
 * again (no "current transaction is aborted" can follow). BullMQ would otherwise fail a job whose
 * handler succeeded, with "deadlock detected". The deadlocks BullMQ's finishes ran into among
 * themselves are gone (`trimOutsideFinish`): this is for what is left (another process's raw
 * BullMQ worker on the same queue, the app's own statements on BullMQ's tables).
 */
function retryAborted(query: PgBackend['query']): PgBackend['query'] {
  return async (text, params) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await query(text, params);
      } catch (error) {
        if (attempt >= ABORTED_TRIES || !ABORTED_FOR_ANOTHER.has((error as { code?: unknown } | null)?.code as string)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  };
}

/** BullMQ's `PostgresQueueBackend` as far as `trimOutsideFinish` wraps its finishes. */
interface FinishingBackend {
  /** The options of the class it serves (a worker's `removeOnComplete` and `removeOnFail`). */
  opts?: { removeOnComplete?: unknown; removeOnFail?: unknown };
  /** Set once the backend closes (its statements then never settle). */
  closing?: unknown;
  connection?: { isClosing?: unknown };
  /** `(job, returnValue | failedReason, removeOnComplete | removeOnFail, token, fetchNext, …)`. */
  moveToCompleted(job: unknown, value: unknown, keep: unknown, ...rest: unknown[]): Promise<unknown>;
  moveToFailed(job: unknown, value: unknown, keep: unknown, ...rest: unknown[]): Promise<unknown>;
}

/** A finished state whose retention `trimOutsideFinish` keeps. */
type FinishedState = 'completed' | 'failed';
/** A retention of finished jobs: the newest `count` (by finish time) kept, and none finished `ageMs` ago or earlier. */
interface Retention {
  count?: number;
  ageMs?: number;
}
/** Longest a finish waits for the trim of its retention (past it, the finish goes on, and so does the trim). */
const TRIM_WAIT_MS = 5_000;

/**
 * The retention of finished jobs taken out of the transaction that finishes a job. BullMQ's
 * PostgreSQL backend applies `removeOnComplete` / `removeOnFail` as a count or an age inside each
 * finish (`move_to_completed` and `move_to_failed` call `apply_retention`: a `DELETE … WHERE id NOT IN
 * (the newest count)` over every finished job of the queue). Concurrent finishes delete the same
 * oldest rows, in orders that differ between sessions (a session's cached plan walks them by finish
 * time, another's in table order), and deadlock (SQLSTATE 40P01, each found only after
 * `deadlock_timeout`, a second by default); each deadlock rolls a trim back, the excess grows and
 * the next trims overlap more: at concurrency 16 on 16 sessions, a storm of deadlocks and a crawl,
 * on raw BullMQ as well. Here a finish with a count or an age passes BullMQ no
 * retention (`false`: it deletes nothing), or removes only its own job (`true`, for a count of 0:
 * what BullMQ's count would leave), then waits for a trim of ours that starts after it: one at a
 * time per worker, covering every finish that asked meanwhile, locking the rows it deletes with
 * SKIP LOCKED (it never waits for a row, so it is in no deadlock). It keeps what BullMQ's keeps:
 * the newest `count` by finish time (then by order of enqueueing), and none finished `age` ago or
 * earlier. A job with a retention of its own (its options) is trimmed by it.
 */
function trimOutsideFinish(backend: Partial<FinishingBackend>, queue: string, query: PgBackend['query']): void {
  const { moveToCompleted, moveToFailed } = backend;
  if (typeof moveToCompleted !== 'function' || typeof moveToFailed !== 'function') throw new Error(PG_BACKEND_CHANGED('moveToCompleted and moveToFailed methods'));
  const trims = new FinishedTrims(queue, query, () => Boolean(backend.closing) || Boolean(backend.connection?.isClosing));
  const wrap =
    (state: FinishedState, finish: FinishingBackend['moveToCompleted'], option: 'removeOnComplete' | 'removeOnFail'): FinishingBackend['moveToCompleted'] =>
    async (job, value, keep, ...rest) => {
      // BullMQ's own choice: the job's option, else the worker's.
      const retention = retentionOf(keep ?? backend.opts?.[option]);
      if (retention === undefined) return finish.call(backend, job, value, keep, ...rest);
      if (retention === 'own') return finish.call(backend, job, value, true, ...rest);
      const result = await finish.call(backend, job, value, false, ...rest);
      await trims.after(state, retention);
      return result;
    };
  backend.moveToCompleted = wrap('completed', moveToCompleted, 'removeOnComplete');
  backend.moveToFailed = wrap('failed', moveToFailed, 'removeOnFail');
}

/**
 * BullMQ's `KeepJobs` (or a count) as a trim's retention; `'own'` for a count of 0 (the finishing job
 * removed with it); undefined for what BullMQ does without touching other jobs (`true`: the job's own
 * row; `false` or none: nothing; a negative count: every job kept).
 */
function retentionOf(keep: unknown): Retention | 'own' | undefined {
  const given = typeof keep === 'number' ? { count: keep } : keep;
  if (typeof given !== 'object' || given === null) return undefined;
  const { count, age } = given as { count?: unknown; age?: unknown };
  const kept = typeof count === 'number' && count >= 0 ? count : undefined;
  const ageMs = typeof age === 'number' && age >= 0 ? age * 1_000 : undefined;
  if (kept === 0) return 'own';
  return kept === undefined && ageMs === undefined ? undefined : { count: kept, ageMs };
}

/**
 * The trim of a queue's finished jobs of `state`: those finished at `$2` or earlier (`byAge`), those
 * past the newest `$2`/`$3` (`byCount`), of the rows no other session holds. The state is a literal
 * (BullMQ's partial index of finished jobs then serves the statement).
 */
function trimStatement(state: FinishedState, byAge: boolean, byCount: boolean): string {
  const doomed: string[] = [];
  if (byAge) doomed.push('finished_at_ms <= $2::bigint');
  if (byCount)
    doomed.push(
      `(finished_at_ms, seq) <= (SELECT finished_at_ms, seq FROM job WHERE queue = $1 AND state = '${state}' ORDER BY finished_at_ms DESC, seq DESC OFFSET $${byAge ? 3 : 2}::integer LIMIT 1)`,
    );
  return `
  WITH doomed AS (
    SELECT id FROM job WHERE queue = $1 AND state = '${state}' AND (${doomed.join(' OR ')})
       FOR UPDATE SKIP LOCKED
  )
  DELETE FROM job WHERE queue = $1 AND id IN (SELECT id FROM doomed)`;
}

/** A worker's trims (`trimOutsideFinish`): one at a time, each for every finish that asked before it started. */
class FinishedTrims {
  private readonly asked = new Map<FinishedState, { retention: Retention; served: Array<() => void> }>();
  private running = false;

  constructor(
    private readonly queue: string,
    private readonly query: PgBackend['query'],
    private readonly closing: () => boolean,
  ) {}

  /** Resolves once a trim of `state` that started after this call has ended (or after `TRIM_WAIT_MS`). */
  async after(state: FinishedState, retention: Retention): Promise<void> {
    // A closing backend's statements never settle.
    if (this.closing()) return;
    const trimmed = new Promise<void>((resolve) => {
      const asked = this.asked.get(state);
      if (!asked) this.asked.set(state, { retention, served: [resolve] });
      else {
        asked.retention = retention;
        asked.served.push(resolve);
      }
    });
    if (!this.running) void this.run();
    await settlesWithin(trimmed, TRIM_WAIT_MS);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.asked.size > 0) {
        const round = [...this.asked];
        this.asked.clear();
        for (const [state, { retention, served }] of round) {
          // Best effort: a trim that failed (PostgreSQL away) is made up for by the next one.
          if (!this.closing()) await this.trim(state, retention).catch(() => undefined);
          for (const resolve of served) resolve();
        }
      }
    } finally {
      this.running = false;
    }
  }

  private trim(state: FinishedState, { count, ageMs }: Retention): Promise<unknown> {
    const params: unknown[] = [this.queue];
    if (ageMs !== undefined) params.push(Date.now() - ageMs);
    if (count !== undefined) params.push(count);
    return this.query(trimStatement(state, ageMs !== undefined, count !== undefined), params);
  }
}

/** `[schema, queue, id]` of a cancel's payload, or undefined for anything else on the channel. */
function parseCancel(payload: string): [string, string, string] | undefined {
  try {
    const parsed = JSON.parse(payload) as unknown;
    return Array.isArray(parsed) && parsed.length === 3 && parsed.every((part) => typeof part === 'string') ? (parsed as [string, string, string]) : undefined;
  } catch {
    return undefined;
  }
}
