/** Metadata keys, namespaced so they never clash with other libraries' metadata. */
export const BACKGROUND_SERVICE_METADATA = 'hosting:background-service';
export const PERIODIC_METADATA = 'hosting:periodic';
export const QUEUE_WORKER_METADATA = 'hosting:queue-worker';
export const QUEUE_EVENT_METADATA = 'hosting:queue-event';
export const DELAYED_METADATA = 'hosting:delayed';
export const WORK_INTERCEPTOR_METADATA = 'hosting:work-interceptor';

/** Largest delay Node's timers accept; longer periods are reached by chaining timers. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Longest duration any option takes (100 years). Longer ones are refused at start-up: past it,
 * `Date` arithmetic on slots and deadlines leaves the range of valid dates.
 */
export const MAX_DURATION_MS = 100 * 365 * 24 * 60 * 60 * 1000;

/** Defaults, stated once and referenced by the option docs. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESTARTS = 5;
export const DEFAULT_RESTART_DELAY_MS = 1_000;
export const DEFAULT_MAX_RESTART_DELAY_MS = 60_000;
/** Missed-run alerts: slots of a periodic task's schedule (plus its timeout) before it is late. */
export const DEFAULT_STALE_AFTER_PERIODS = 2;
/** The largest `staleAfterPeriods` accepted (a cron's instants are counted one by one). */
export const MAX_STALE_AFTER_PERIODS = 1_000;
