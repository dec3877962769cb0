import type { Type } from '@nestjs/common';
import type { WorkInterceptor } from '../interception/work-interceptor.js';
import type { OutboxOptions } from './outbox-options.interface.js';
import type { PostgresConnectionOptions } from './postgres-connection.interface.js';
import type { ConnectionOptions } from './redis-connection.interface.js';
import type { TimeProvider } from '../time/time-provider.js';

/** What a background service does when `execute` throws or rejects. */
export type ServiceErrorBehavior = 'stopHost' | 'ignore' | 'restart';

/**
 * Which kinds of hosted work run in this process (`HostingModule.forRoot({ enabled })`): one
 * codebase deployed as a web-only and a worker-only process. A kind set to `false` is not started
 * here; its units are listed in `HostingRegistry` with state `'disabled'`. Each key defaults to
 * `true`; a unit's own `enabled: false` turns it off even where its kind is on. From
 * `forRootAsync`, `"true"`/`"false"` strings (environment variables) are accepted.
 */
export interface HostingEnabledOptions {
  /** `@Periodic` tasks. @default true */
  periodic?: boolean;
  /** `@Delayed` one-shot tasks. @default true */
  delayed?: boolean;
  /** `@BackgroundService` classes. @default true */
  background?: boolean;
  /**
   * `@QueueWorker` methods: `false` keeps every queue usable to enqueue from this process, but
   * nothing is consumed here (BullMQ: another process consumes; memory: items wait, with a warning).
   * @default true
   */
  queueWorkers?: boolean;
}

/** Options of `HostingModule.forRoot`. */
export interface HostingOptions {
  /**
   * How long a graceful stop waits for running work (background services, ticks, queue items)
   * after their signals abort, before it goes on and names what it abandoned.
   * @default 30000 (as .NET 6+)
   */
  shutdownTimeoutMs?: number;
  /**
   * Default error behaviour of background services that do not set their own `onError`.
   * @default 'stopHost' (as .NET 6+)
   */
  onServiceError?: ServiceErrorBehavior;
  /**
   * After a graceful stop started by a signal (`app.enableShutdownHooks()`), exit the process
   * with `process.exitCode` (0, or 1 after a `stopHost` failure) instead of letting Nest re-raise
   * the signal, which would end the process by that signal.
   * @default true
   */
  exitAfterSignal?: boolean;
  /**
   * The Redis that queues with `backend: 'bullmq'` and `@Periodic({ exclusive: true })` tasks share
   * (a `redis://` URL, ioredis options, or an ioredis instance). Needs `bullmq` and `ioredis` installed.
   */
  redis?: ConnectionOptions;
  /**
   * The PostgreSQL that queues with `backend: { type: 'bullmq', postgres }` (or `backend: 'bullmq'`
   * when `redis` is not set) and `@Periodic({ exclusive: true })` tasks (when `redis` is not set) use
   * (a `postgres://` URL, `pg` pool options, or a `pg.Pool`). Needs `bullmq` and `pg` installed.
   * With both `redis` and `postgres` set, Redis is the default and a queue picks PostgreSQL with
   * `backend: { type: 'bullmq', postgres: true }` or its own connection.
   */
  postgres?: PostgresConnectionOptions;
  /**
   * The clock of every slot, timer and timestamp of the host (also injectable as `TimeProvider`).
   * Tests pass a `VirtualTime` from `nest-hosting/testing` (or `overrideProvider(TimeProvider)`).
   * @default TimeProvider.system
   */
  timeProvider?: TimeProvider;
  /**
   * Turns kinds of hosted work off for this process, e.g. a web-only process:
   * `{ periodic: false, delayed: false, background: false, queueWorkers: false }`.
   * @default every kind enabled
   */
  enabled?: HostingEnabledOptions;
  /**
   * Missed-run alerts: a periodic task without its own `staleAfterMs` is `late` once this many slots
   * of its schedule (an interval's periods, a cron's instants) plus its `timeoutMs` have passed since
   * its last successful run (or since it started, before its first). A positive integer up to 1000;
   * `false` turns the check off for every task without its own `staleAfterMs`. From `forRootAsync`,
   * numeric and `"false"` strings are accepted.
   * @default 2
   */
  staleAfterPeriods?: number | false;
  /**
   * The default `spreadMs` of every periodic task that does not set its own: each tick delayed by a
   * stable per-task offset in [0, spreadMs) derived from the task's name, so that many tasks on the
   * same schedule fire spread over that window instead of in one herd. Off by default: a task's
   * tick then starts at its slot (what `@nestjs/schedule` users and their tests expect).
   * @default 0
   */
  spreadMs?: number;
  /**
   * Interceptors around every unit of work (ticks, background service runs, queue items) and every
   * enqueue, outermost first, before any `@WorkInterceptor()` provider: instances, or classes (the
   * app's provider of that class when it is one, else an instance Nest makes in HostingModule,
   * whose dependencies must then be global providers).
   * @default []
   */
  interceptors?: Array<Type<WorkInterceptor> | WorkInterceptor>;
  /**
   * The transactional outbox: `WorkQueue.enqueue(item, { transaction })` writes the item in the app's
   * own transaction (a table in the app's SQLite or PostgreSQL database), and a relay (the hosted
   * background service `outbox.relay`) hands committed rows to their queues.
   */
  outbox?: OutboxOptions;
}
