import type { ConnectionOptions } from './redis-connection.interface.js';

/** What a background service does when `execute` throws or rejects. */
export type ServiceErrorBehavior = 'stopHost' | 'ignore' | 'restart';

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
}
