import { inspect } from 'node:util';
import { errorMessage, errorStack } from './errors/thrown-value.js';
import { MAX_DURATION_MS } from './hosting.constants.js';

/**
 * Every user-facing message is built here, so that the code, the tests and the docs quote one text.
 */
const MAX_SHOWN_CHARS = 200;

const show = (value: unknown): string => {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'number') text = Object.is(value, -0) ? '-0' : String(value);
  else if (typeof value === 'function') text = `function ${value.name || '(anonymous)'}`;
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'bigint') text = `${value}n`;
  else {
    // A null-prototype object, a getter that throws or a cycle must not turn the message itself into a crash.
    try {
      text = JSON.stringify(value) ?? inspect(value, { depth: 1, breakLength: Infinity });
    } catch {
      try {
        text = inspect(value, { depth: 1, breakLength: Infinity });
      } catch {
        text = `(${typeof value})`;
      }
    }
  }
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
};

export const INVALID_PERIOD = (owner: string, value: unknown, where = `@Periodic on ${owner}`) =>
  `${where}: period must be a positive number of milliseconds up to ${MAX_DURATION_MS} (100 years), got ${show(value)}`;

export const INVALID_CRON = (owner: string, expression: unknown, reason: string, where = `@Periodic on ${owner}`) =>
  `${where}: invalid cron expression ${show(expression)} (${reason})`;

export const INVALID_TIME_ZONE = (owner: string, timeZone: unknown, where = `@Periodic on ${owner}`) =>
  `${where}: option "timeZone" must be an IANA time zone name such as "Europe/Paris", got ${show(timeZone)}`;

export const AMBIGUOUS_SCHEDULE = (owner: string, value: unknown, where = `@Periodic on ${owner}`) =>
  `${where}: give exactly one of a period in milliseconds, { every } or { cron }, got ${show(value)}`;

/** The one shape of a bad option: `<where>: option "<option>" must be <expected>, got <value>`. */
export const INVALID_OPTION_AT = (where: string, option: string, expected: string, value: unknown) =>
  `${where}: option "${option}" must be ${expected}, got ${show(value)}`;

export const INVALID_OPTION = (decorator: string, owner: string, option: string, expected: string, value: unknown) =>
  INVALID_OPTION_AT(`${decorator} on ${owner}`, option, expected, value);

export const UNKNOWN_OPTION = (where: string, option: string, suggestion: string | undefined, known: readonly string[]) =>
  `${where}: unknown option "${option}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (known options: ${known.join(', ')})`;

export const NOT_AN_OPTIONS_OBJECT = (where: string, value: unknown) =>
  `${where}: options must be an object, got ${value === null ? 'null' : Array.isArray(value) ? `an array ${show(value)}` : show(value)}`;

export const NOT_A_METHOD = (decorator: string, owner: string) =>
  `${decorator} on ${owner}: it decorates a property, not a method; put it on a method`;

export const MISSING_EXECUTE = (className: string, value: unknown) =>
  `@BackgroundService on ${className}: the class must have an execute(signal: AbortSignal) method, got ${show(value)}`;

export const BACKGROUND_SERVICE_NOT_SINGLETON = (className: string) =>
  `@BackgroundService on ${className}: a background service runs for the life of the host, so it must be a singleton, ` +
  `but it is request-scoped or depends on a request-scoped provider; inject ScopeFactory and resolve scoped providers per unit of work`;

export const DUPLICATE_NAME = (name: string, first: string, second: string) =>
  `Duplicate hosted task name "${name}": used by ${first} and ${second}; give one of them a distinct { name }`;

/** Names for a message: quoted, the first 20 of them, with a count of the rest. */
const listNames = (names: string[]): string =>
  names.length === 0
    ? '(none)'
    : names.slice(0, 20).map((n) => `"${n}"`).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');

export const UNKNOWN_SERVICE = (method: string, name: unknown, known: string[]) =>
  `HostingRegistry.${method}: no hosted service named ${show(name)}; known: ${listNames(known)}`;

export const WRONG_KIND = (method: string, name: string, kind: string, expected: string) =>
  `HostingRegistry.${method}: "${name}" is a ${kind} service; ${method} applies to ${expected} services only`;

/** Why `HostingRegistry.restart` refused a background service: its state, or a backoff restart pending, or the host stopping. */
export const NOT_RESTARTABLE = (name: string, state: string, why: 'state' | 'backoff' | 'host stopping') =>
  `HostingRegistry.restart: background service "${name}" is ${state}` +
  (why === 'backoff'
    ? ', waiting for its restart policy to restart it'
    : why === 'host stopping'
      ? ' and the host is stopping: nothing is restarted once a stop has begun'
      : '') +
  '; restart applies to a faulted service while the host runs';

export const SERVICE_RESTARTED = (name: string, failures: number) =>
  `Background service "${name}" restarted through HostingRegistry.restart (it was faulted; ${failures} failure${failures === 1 ? '' : 's'} so far)`;

export const TASK_FAILED = (kind: string, name: string) => `${kind} "${name}" failed`;

export const TICK_TIMED_OUT = (name: string, timeoutMs: number) => `tick of "${name}" timed out after ${timeoutMs} ms (timeoutMs)`;

/** A periodic task's missed-run budget, as messages state it. */
export type StaleBudgetText = { afterMs: number } | { afterPeriods: number; schedule: string; timeoutMs: number };

const staleBudgetText = (budget: StaleBudgetText): string =>
  'afterMs' in budget
    ? `staleAfterMs ${budget.afterMs} ms`
    : `${budget.afterPeriods} slot${budget.afterPeriods === 1 ? '' : 's'} of ${budget.schedule}${budget.timeoutMs ? ` plus timeoutMs ${budget.timeoutMs} ms` : ''} (staleAfterPeriods)`;

/** A periodic task passed its missed-run deadline: logged once, when it becomes late. */
export const TASK_LATE = (name: string, late: { now: number; since: number; succeeded: boolean; dueBy: number; budget: StaleBudgetText }) =>
  `Periodic task "${name}" is late: ` +
  (late.succeeded
    ? `no successful run for ${late.now - late.since} ms (the last one finished at ${new Date(late.since).toISOString()})`
    : `no successful run in the ${late.now - late.since} ms since it started (at ${new Date(late.since).toISOString()})`) +
  `; it should have succeeded by ${new Date(late.dueBy).toISOString()} (budget: ${staleBudgetText(late.budget)})`;

/** A late periodic task succeeded again: logged once. */
export const TASK_NO_LONGER_LATE = (name: string, succeededAt: number) =>
  `Periodic task "${name}" succeeded again (at ${new Date(succeededAt).toISOString()}) and is no longer late`;

export const SERVICE_FAULTED = (name: string, policy: string) =>
  `Background service "${name}" failed (onError: '${policy}')`;

export const SERVICE_FAILED_WHILE_STOPPING = (name: string) =>
  `Background service "${name}" failed while stopping (an error other than the abort of its signal)`;

export const SERVICE_RESTARTING = (name: string, attempt: number, max: number, delayMs: number) =>
  `Background service "${name}" restarts in ${delayMs} ms (restart ${attempt} ${max === Infinity ? 'with no limit' : `of ${max}`})`;

export const RESTARTS_EXHAUSTED = (name: string, max: number) =>
  `Background service "${name}" failed after ${max} restarts; stopping the host`;

export const STOPPING_HOST = (reason: string) => `Stopping the host: ${reason}`;

export const NO_SHUTDOWN_HOOKS = () =>
  'HostLifetime.stopApplication: the app has no shutdown hooks, so it cannot be closed from inside; ' +
  'call app.enableShutdownHooks() in main.ts. Hosted work has been stopped; the exit code is set to 1';

export const SHUTDOWN_ABANDONED = (timeoutMs: number, names: string[]) =>
  `Shutdown deadline of ${timeoutMs} ms passed; still running and abandoned: ${names.map((n) => `"${n}"`).join(', ')}`;

/** What a stop of the host covered: its units, and the queue items it drained or left. */
export interface StopSummary {
  elapsedMs: number;
  background: number;
  periodic: number;
  queues: number;
  /** Queue items handled (succeeded or failed for good) while the host was stopping. */
  drained: number;
  /** Queue items not delivered when the queues stopped (memory: handed to onDropped; BullMQ: left in Redis). */
  undelivered: number;
}

const counted = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const stopCovered = (s: Omit<StopSummary, 'undelivered'> & { undelivered?: number }) =>
  `${counted(s.background, 'background service', 'background services')}, ${counted(s.periodic, 'periodic task', 'periodic tasks')}, ` +
  `${counted(s.queues, 'queue', 'queues')} (${counted(s.drained, 'item', 'items')} drained` +
  (s.undelivered === undefined ? ')' : `, ${s.undelivered} left undelivered)`);

/** The one line of a clean stop: `Host stopped gracefully in 412 ms: 3 background services, …`. */
export const HOST_STOPPED = (summary: StopSummary) => `Host stopped gracefully in ${summary.elapsedMs} ms: ${stopCovered(summary)}`;

/**
 * The one line of a stop that reached its deadline: what it abandoned, then what it covered (the
 * items a memory queue drops at the deadline are reported by the queue, as they are counted then).
 */
export const HOST_STOPPED_PAST_DEADLINE = (timeoutMs: number, names: string[], summary: Omit<StopSummary, 'undelivered'>) =>
  `${SHUTDOWN_ABANDONED(timeoutMs, names)}; host stopped in ${summary.elapsedMs} ms: ${stopCovered(summary)}`;

export const SCOPE_HOOK_FAILED = (className: string) => `${className}.onScopeEnd failed`;

export const SCOPE_DISPOSED = (method: string) =>
  `HostScope.${method}: the scope has ended; create a new scope with ScopeFactory.create()`;

export const INVALID_HOSTING_OPTION = (option: string, expected: string, value: unknown) =>
  INVALID_OPTION_AT('HostingModule.forRoot', option, expected, value);

export { show as showValue };

/** What a log line carries for a thrown value: its stack, or a description of a value that is no Error. Never throws. */
export const stackOf = (error: unknown): string => errorStack(error);

export const INVALID_QUEUE_OPTION = (queue: unknown, option: string, expected: string, value: unknown) =>
  INVALID_OPTION_AT(`HostingModule.registerQueue(${show(queue)})`, option, expected, value);

export const INVALID_PROGRESS = (queue: string, id: string, value: unknown) =>
  `JobContext.progress on queue "${queue}", item ${id}: expected a finite number or a JSON object, got ${show(value)}`;

export const INVALID_RETRY_AFTER = (queue: string, id: string, value: unknown) =>
  `RateLimitedError thrown by the worker of queue "${queue}", item ${id}: retryAfterMs must be a number of milliseconds from 1 to ${2 ** 31 - 1} (2^31−1), got ${show(value)}; the try failed`;

export const QUEUE_EVENT_UNSUPPORTED = (queue: string, event: string, backend: string, owner: string) =>
  `${owner}: queue "${queue}" never emits '${event}' on the ${backend} backend (an item there dies with its process: nothing is left to stall); ` +
  `listen to it on a 'bullmq' queue, or leave it out`;

export const TRY_ENQUEUE_UNSUPPORTED = (queue: string, backend: string) =>
  `WorkQueue.tryEnqueue on queue "${queue}": the ${backend} backend cannot add an item without waiting for its store (every add is a round trip); use enqueue, or enqueueMany for a batch`;

export const TRY_ENQUEUE_ASYNC_INTERCEPTOR = (queue: string) =>
  `WorkQueue.tryEnqueue on queue "${queue}": an enqueue interceptor did not call next() synchronously, so the item could not be added without a promise; use enqueue with that interceptor`;

export const DUPLICATE_QUEUE = (name: string, option: string, first: unknown, firstSite: string, second: unknown, secondSite: string) =>
  `HostingModule.registerQueue: queue "${name}" is registered twice with different options: ` +
  `"${option}" is ${show(first)} at ${firstSite} and ${show(second)} at ${secondSite}; ` +
  `one queue per name per app: give both the same options, or register it once and import that module where it is needed`;

export const UNKNOWN_QUEUE = (owner: string, name: unknown, known: string[], decorator = '@QueueWorker') =>
  `${decorator} on ${owner}: no queue named ${show(name)} is registered (HostingModule.registerQueue); known: ${listNames(known)}`;

export const INVALID_QUEUE_DEFINITION = (value: unknown) =>
  `defineQueue: the queue name must be a non-empty string, got ${show(value)}`;

export const INVALID_QUEUE_ARGUMENT = (decorator: string, value: unknown) =>
  `${decorator}: expected a queue name (a non-empty string) or a queue definition from defineQueue, got ${show(value)}`;

export const INVALID_WORKER_QUEUE = (owner: string, value: unknown) =>
  `@QueueWorker on ${owner}: the queue name must be a non-empty string, got ${show(value)}`;

export const DUPLICATE_WORKER = (name: string, first: string, second: string) =>
  `@QueueWorker: queue "${name}" has two workers, ${first} and ${second}; a queue has one worker method (raise its concurrency instead)`;

export const QUEUE_WITHOUT_WORKER = (name: string) =>
  `Queue "${name}" has no @QueueWorker: its items wait until a worker for it runs (in another process, with a durable backend)`;

export const QUEUE_WORKER_DISABLED = (name: string, owner: string, durable: boolean) =>
  `Queue "${name}": its worker ${owner} is disabled in this process (enabled: false)` +
  (durable
    ? '; items enqueued here are consumed by a process where it is enabled'
    : '; with the memory backend, items enqueued here wait in this process and are never consumed');

/** Logged once at start-up when units are turned off (`enabled: false`). */
export const UNITS_DISABLED = (names: readonly string[]) => `Disabled in this process (enabled: false): ${names.join(', ')}`;

export const UNIT_DISABLED = (method: string, name: string) =>
  `HostingRegistry.${method}: "${name}" is disabled in this process (enabled: false); it does not run here`;

export const INVALID_DELAY = (owner: string, value: unknown) =>
  `@Delayed on ${owner}: delay must be a number of milliseconds from 0 to ${MAX_DURATION_MS} (100 years), got ${show(value)}`;

export const QUEUE_ITEM_RETRY = (name: string, id: string, attempt: number, attempts: number, error: unknown) =>
  `Queue "${name}" item ${id} failed try ${attempt} of ${attempts}, will retry: ${errorMessage(error)}`;

export const QUEUE_ITEM_FAILED = (name: string, id: string, attempts: number) =>
  `Queue "${name}" item ${id} failed after ${attempts} ${attempts === 1 ? 'try' : 'tries'}`;

export const QUEUE_LANE_FAILED = (name: string) =>
  `Queue "${name}": reporting an item's failure threw; that worker lane stopped and a new one took its place`;
export const QUEUE_DEADLINE_PASSED = (name: string) => `shutdown deadline passed while queue "${name}" was draining`;

export const QUEUE_STOP_FAILED = (name: string) => `Queue "${name}" did not stop cleanly`;

export const QUEUE_HOOK_FAILED = (name: string, hook: string) => `Queue "${name}": the ${hook} hook threw`;

export const QUEUE_LISTENER_FAILED = (name: string, event: string, listener: string) =>
  `Queue "${name}": ${listener}, a listener of its "${event}" events, threw; the queue goes on`;

export const INVALID_QUEUE_EVENT = (where: string, value: unknown, suggestion: string | undefined, known: readonly string[]) =>
  `${where}: unknown queue event ${show(value)}${suggestion ? `; did you mean "${suggestion}"?` : ''} (known events: ${known.join(', ')})`;

export const INVALID_QUEUE_EVENTS = (where: string, value: unknown, known: readonly string[], all: boolean) =>
  `${where}: expected a queue event name${all ? ", '*'" : ''} or a non-empty array of event names (${known.join(', ')}), got ${show(value)}`;

export const QUEUE_EVENT_LISTENER_NOT_SINGLETON = (owner: string) =>
  `@OnQueueEvent on ${owner}: a queue event listener is subscribed once, at start-up, so its provider must be a singleton, ` +
  `but it is request-scoped, transient or depends on a request-scoped provider; listen from a singleton and resolve scoped providers with ScopeFactory`;

/** `durable`: the items stay in `store` (`Redis`, `PostgreSQL`); else they were handed to `onDropped`. */
export const QUEUE_UNDELIVERED = (name: string, count: number, durable: boolean, store = 'Redis') =>
  `Queue "${name}": ${count} ${count === 1 ? 'item was' : 'items were'} left undelivered at shutdown` +
  (durable ? `; they stay in ${store} for the next worker` : ' and handed to onDropped');

export const EXCLUSIVE_NEEDS_REDIS = (owner: string) =>
  `@Periodic on ${owner}: { exclusive: true } needs a store shared by the instances: set HostingModule.forRoot({ redis }) or HostingModule.forRoot({ postgres })`;

/** `ServiceStatus.lastError` of a unit while connections of it (to `store`: `Redis`, `PostgreSQL`) are down. */
export const CONNECTIONS_DOWN = (down: ReadonlyArray<{ name: string; since: Date; lastError?: string }>, store = 'Redis') =>
  `${store} connection${down.length === 1 ? '' : 's'} down: ` +
  down.map((c) => `${c.name} since ${c.since.toISOString()}${c.lastError ? ` (${c.lastError})` : ''}`).join('; ');

/** Where a task added at run time is named in messages: `HostingRegistry.addPeriodic("tenant-7")`. */
export const RUN_TIME_OWNER = (method: string, name: string) => `HostingRegistry.${method}(${show(name)})`;

export const INVALID_ARGUMENT = (where: string, argument: string, expected: string, value: unknown) =>
  `${where}: ${argument} must be ${expected}, got ${show(value)}`;

export const ADD_WHILE_STOPPING = (method: string, name: string) =>
  `HostingRegistry.${method}: cannot add ${show(name)}, the host is stopping or has stopped; nothing is added once a stop has begun`;

export const NO_HOST = (method: string) =>
  `HostingRegistry.${method}: no host runs this registry; import HostingModule.forRoot() and get the registry by injection`;

export const UNKNOWN_PROVIDER = (where: string, provider: unknown) =>
  `${where}: handler.provider ${show(provider)} is not a provider or controller of this app; register it in a module's providers`;

export const NOT_A_PROVIDER_METHOD = (where: string, className: string, method: unknown) =>
  `${where}: handler.method must name a method of ${className}, got ${show(method)}`;

/** The abort reason of a unit's running work when `HostingRegistry.remove` stops it. */
export const UNIT_REMOVED = (name: string) => `"${name}" removed through HostingRegistry.remove`;

export const REMOVE_ABANDONED = (name: string, timeoutMs: number) =>
  `HostingRegistry.remove: "${name}" did not stop within the shutdown budget of ${timeoutMs} ms (shutdownTimeoutMs); ` +
  'it was removed and its running work abandoned';

export const INTERCEPTOR_NEXT_TWICE = (source: string, method: 'intercept' | 'interceptEnqueue') =>
  `${source}.${method} called next() twice; an interceptor runs the unit of work (or the enqueue) at most once`;

export const INVALID_INTERCEPTOR = (where: string, value: unknown) =>
  `${where} must be a WorkInterceptor (a class or object with an intercept(work, next) method), got ${show(value)}`;

export const INTERCEPTOR_NOT_SINGLETON = (className: string) =>
  `@WorkInterceptor() ${className} is request-scoped or transient (or depends on such a provider): an interceptor runs around every unit of work ` +
  'and must be a singleton; resolve scoped providers inside intercept() with moduleRef.resolve(token, work.contextId)';
