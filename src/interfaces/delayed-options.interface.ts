/** Options of `@Delayed(ms, options)`. */
export interface DelayedTaskOptions {
  /** Name in logs and in `HostingRegistry`. @default `ClassName.methodName` */
  name?: string;
  /** Abort the run's `signal` after this many milliseconds (as `@Periodic`'s `timeoutMs`). */
  timeoutMs?: number;
  /**
   * `false`: the task does not run in this process; it is listed in `HostingRegistry` with state
   * `'disabled'` (health ignores it). See also `HostingOptions.enabled`.
   * @default true
   */
  enabled?: boolean;
}
