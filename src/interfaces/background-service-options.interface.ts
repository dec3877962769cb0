import type { ServiceErrorBehavior } from './hosting-options.interface.js';

/** Restart policy of a background service whose `onError` is `'restart'`. */
export interface RestartPolicy {
  /** Restarts allowed before the failure escalates to `stopHost`. @default 5 */
  maxRestarts?: number;
  /** Delay before the first restart; doubles on each further one. @default 1000 */
  initialDelayMs?: number;
  /** Upper bound of the delay between restarts. @default 60000 */
  maxDelayMs?: number;
}

/** Options of `@BackgroundService()`. */
export interface BackgroundServiceOptions {
  /** Name in logs and in `HostingRegistry`. @default the class name */
  name?: string;
  /** What happens when `execute` throws or rejects. @default `HostingOptions.onServiceError` */
  onError?: ServiceErrorBehavior;
  /** Backoff of `onError: 'restart'`. */
  restart?: RestartPolicy;
  /**
   * `false`: `execute` is not called in this process; the service is listed in `HostingRegistry`
   * with state `'disabled'` (health ignores it). See also `HostingOptions.enabled`.
   * @default true
   */
  enabled?: boolean;
}

/** A class decorated with `@BackgroundService()`. */
export interface HostedBackgroundService {
  /** The long-running work; return (or reject) once `signal` aborts. */
  execute(signal: AbortSignal): Promise<void> | void;
}
