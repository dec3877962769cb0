/** Signals Nest listens to with `enableShutdownHooks()`, the usual ones first. */
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const;

/** Nest 11's listener calls the hooks itself; Nest 12's checks `receivedSignal` and calls `shutdown`. */
const NEST_LISTENER = /callBeforeShutdownHook|receivedSignal|useProcessExit/;

/**
 * Nest's own shutdown-hook listener, if `app.enableShutdownHooks()` installed one. Calling it runs
 * exactly what a real SIGTERM would (all hooks, server close), without sending a signal that
 * other listeners of this process (a test runner, say) would also receive.
 */
export function findNestShutdownListener(): { signal: string; listener: (signal: string) => unknown } | undefined {
  for (const signal of SIGNALS) {
    const listener = process
      .listeners(signal)
      .find((fn) => NEST_LISTENER.test(Function.prototype.toString.call(fn)));
    if (listener) return { signal, listener: listener as (signal: string) => unknown };
  }
  return undefined;
}
