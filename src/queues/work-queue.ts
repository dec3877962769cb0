import { randomUUID } from 'node:crypto';
import type { BackoffOptions, CancelResult, EnqueueManyOptions, EnqueueOptions } from '../interfaces/queue-options.interface.js';
import { INVALID_OPTION_AT, TRY_ENQUEUE_UNSUPPORTED, TRY_ENQUEUE_ASYNC_INTERCEPTOR } from '../hosting.messages.js';
import { OptionsValidator } from '../validation/options-validator.js';
import type { ItemOptions, QueueBackend } from './queue-backend.interface.js';
import { OneCopy } from '../one-copy.js';
import type { WorkInterceptors } from '../interception/work-interceptors.js';
import { TimeProvider } from '../time/time-provider.js';
import { checkBackoff, TIMER_RULE } from './queue-options.validation.js';
import type { OutboxEntry, OutboxWriter } from '../interfaces/outbox-options.interface.js';
import { assertJsonPayload } from './bullmq/json-payload.js';
import {
  OUTBOX_ASYNC_INTERCEPTOR,
  OUTBOX_KEY_WITHOUT_TRANSACTION,
  OUTBOX_MANY_WITH_TRANSACTION,
  OUTBOX_NOT_CONFIGURED,
  OUTBOX_PAYLOAD_NOT_JSON,
  OUTBOX_SIGNAL_WITH_TRANSACTION,
} from './outbox-enqueue.messages.js';

const ENQUEUE_KEYS = ['signal', 'delayMs', 'runAt', 'priority', 'id', 'idTtlMs', 'attempts', 'backoff', 'timeoutMs', 'transaction', 'orderingKey'] as const;
const isAbortSignal = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function';
/** BullMQ's highest priority (its priorities are 21 bits); 0 means none. */
export const MAX_PRIORITY = 2_097_151;
/**
 * The longest delay: BullMQ keeps a delayed job's due time × 4096 in a double, exact up to 2^53, so
 * one year from now is far inside it (and far beyond any backoff).
 */
export const MAX_DELAY_MS = 365 * 24 * 60 * 60 * 1000;
const DELAY_RULE = { min: 0, max: MAX_DELAY_MS };
const MAX_ID_LENGTH = 200;
const isItemId = (value: unknown): boolean =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !/^\d+$/.test(value) && !value.includes(':');
const ITEM_ID = `a non-empty string of at most ${MAX_ID_LENGTH} characters, not only digits (those are the queue's own ids) and without ':'`;
const isPriority = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_PRIORITY;
const isValidDate = (value: unknown): boolean => value instanceof Date && !Number.isNaN(value.getTime());
const NO_ITEMS: readonly string[] = [];
const MAX_ORDERING_KEY_LENGTH = 200;
const isOrderingKey = (value: unknown): boolean => typeof value === 'string' && value.length > 0 && value.length <= MAX_ORDERING_KEY_LENGTH;
/** How the JSON check's message reads (worded for BullMQ), cut into its problem and its fix, to be worded for the outbox. */
const JSON_PROBLEM = /^[^:]*\(bullmq\): ([\s\S]*)\. BullMQ stores items as JSON, so it would not reach the worker as it was given; ([\s\S]*)$/;

/**
 * The producer side of a queue (.NET's ChannelWriter). Inject it with `@InjectQueue(name)`;
 * the same code runs on the memory and the BullMQ backend.
 *
 * @example
 * ```ts
 * await this.emails.enqueue({ orderId }, { signal: ctx.signal }); // waits for room when full
 * await this.emails.enqueue({ orderId }, { id: `order-${orderId}`, delayMs: 60_000, priority: 5 });
 * ```
 */
@OneCopy('WorkQueue')
export class WorkQueue<T = unknown> {
  /** Made by `HostingModule.registerQueue`, never by app code: inject it with `@InjectQueue`. */
  constructor(...madeByTheLibrary: never);
  /** @internal built by `HostingModule.registerQueue` */
  constructor(name: string, backend: QueueBackend<T>, interceptors?: WorkInterceptors, time?: TimeProvider, backendKind?: string);
  constructor(
    /** The queue's name. */
    readonly name: string,
    private readonly backend: QueueBackend<T>,
    private readonly interceptors?: WorkInterceptors,
    private readonly time: TimeProvider = TimeProvider.system,
    private readonly backendKind = 'memory',
  ) {}

  /** The app's transactional outbox, when `forRoot` has one (set by `registerQueue`). */
  private outbox?: OutboxWriter;

  /**
   * Adds an item and resolves with its id once the queue accepted it. When a bounded memory queue
   * is full: `'wait'` waits for room (cancel with `signal`), `'reject'` rejects with
   * `QueueFullError`, the drop modes evict an item. After shutdown began: rejects with `QueueClosedError`.
   * With `id`, an item of that id still in the queue makes this a no-op that resolves with the id.
   * Bad options reject with a TypeError naming the queue and the option.
   *
   * With `transaction` (the transactional outbox, `HostingModule.forRoot({ outbox })`), the item is
   * written as a row of the outbox table in that transaction, and nothing touches the queue: the
   * relay hands it to the queue once the transaction committed (never, if it rolled back). It
   * resolves with the item's id (`id`, or a new UUID) once the row is written. On SQLite the row is
   * written before `enqueue` returns (better-sqlite3 transactions are synchronous: call it inside
   * `db.transaction(() => …)` without awaiting), and whatever goes wrong throws instead of rejecting,
   * so that the throw rolls the transaction back; on PostgreSQL bad input throws too, and the write's
   * own failure rejects (await it before COMMIT).
   */
  enqueue(item: T, options?: EnqueueOptions): Promise<string> {
    if (options?.transaction !== undefined) return this.enqueueInTransaction(item, options);
    let itemOptions: ItemOptions | undefined;
    if (options !== undefined) {
      try {
        itemOptions = this.itemOptions('enqueue', options, false);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const signal = options?.signal;
    // Enqueue interceptors (a trace context, a request id) write headers that travel with the item.
    if (this.interceptors?.interceptsEnqueue)
      return this.interceptors.enqueue(this.name, item, (headers) => this.backend.enqueue(item, signal, headers, itemOptions));
    return this.backend.enqueue(item, signal, undefined, itemOptions);
  }

  /**
   * Adds `items` in one go, each with the same `options` (`id`, when given, derives each item's id
   * from it): one round trip on BullMQ (`addBulk`), one wake-up of the worker on memory. Resolves with
   * their ids, in order (a duplicate's id is the item already queued). Enqueue interceptors run once for the batch.
   */
  enqueueMany(items: readonly T[], options?: EnqueueManyOptions<T>): Promise<string[]> {
    let itemOptions: ItemOptions | undefined;
    let ids: string[] | undefined;
    try {
      if (!Array.isArray(items)) throw new TypeError(INVALID_OPTION_AT(`WorkQueue.enqueueMany on queue "${this.name}"`, 'items', 'an array of items', items));
      if (options !== undefined) {
        itemOptions = this.itemOptions('enqueueMany', options, true);
        const idOf = options.id;
        if (idOf !== undefined) {
          ids = items.map((item: T, index) => {
            const id = idOf(item, index);
            if (!isItemId(id)) throw new TypeError(INVALID_OPTION_AT(`WorkQueue.enqueueMany on queue "${this.name}"`, `id(items[${index}])`, ITEM_ID, id));
            return id;
          });
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    if (items.length === 0) return Promise.resolve([...NO_ITEMS]);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.interceptors?.interceptsEnqueue)
      return this.interceptors.enqueue<string[]>(this.name, items, (headers) => this.backend.enqueueMany(items, itemOptions, ids, headers));
    return this.backend.enqueueMany(items, itemOptions, ids);
  }

  /**
   * Memory backend only (.NET's `TryWrite`): adds the item at once and returns true when there is
   * room, false when the queue is full (whatever its `fullMode`); no promise and no id, for hot
   * producers. Throws `QueueClosedError` once shutdown began, and a TypeError on a BullMQ queue
   * (every add there is a round trip to Redis: use `enqueue`). Enqueue interceptors run too, and
   * must call `next` synchronously here (the built-in tracing does).
   */
  tryEnqueue(item: T): boolean {
    const backend = this.backend;
    if (backend.tryEnqueue === undefined) throw new TypeError(TRY_ENQUEUE_UNSUPPORTED(this.name, this.backendKind));
    if (!this.interceptors?.interceptsEnqueue) return backend.tryEnqueue(item);
    let written: boolean | undefined;
    let thrown: { error: unknown } | undefined;
    let returned = false;
    void this.interceptors
      .enqueue(this.name, item, (headers) => {
        // An interceptor that calls next() after tryEnqueue returned: the caller was told no (a TypeError); nothing is added.
        if (returned) return Promise.reject(new TypeError(TRY_ENQUEUE_ASYNC_INTERCEPTOR(this.name)));
        try {
          written = backend.tryEnqueue!(item, headers);
        } catch (error) {
          thrown = { error };
          return Promise.reject(error);
        }
        return Promise.resolve('');
      })
      .catch(() => undefined);
    returned = true;
    if (thrown) throw thrown.error;
    if (written === undefined) throw new TypeError(TRY_ENQUEUE_ASYNC_INTERCEPTOR(this.name));
    return written;
  }

  /** @internal `HostingModule.registerQueue`: the app's outbox, for `enqueue(item, { transaction })`. */
  useOutbox(outbox: OutboxWriter): void {
    this.outbox = outbox;
  }

  /**
   * `enqueue` with a transaction: the item becomes an outbox row written with the app's transaction
   * handle (through the enqueue interceptors, whose headers the row keeps). Bad input throws a
   * TypeError at once (inside `db.transaction`, the throw rolls it back); SQLite writes synchronously
   * (and throws what the write throws), PostgreSQL resolves once its INSERT has run.
   */
  private enqueueInTransaction(item: T, options: EnqueueOptions): Promise<string> {
    const where = `WorkQueue.enqueue on queue "${this.name}"`;
    const outbox = this.outbox;
    if (!outbox) throw new TypeError(OUTBOX_NOT_CONFIGURED(where));
    const entry = this.outboxEntry(where, item, options, outbox.now());
    const writer = outbox.handle(where, options.transaction);
    const interceptors = this.interceptors;
    if (!interceptors?.interceptsEnqueue) {
      const written = writer.write(entry);
      return typeof written === 'string' ? Promise.resolve(written) : written;
    }
    const withHeaders = (headers: Record<string, string> | undefined): OutboxEntry => (headers === undefined ? entry : { ...entry, headers: JSON.stringify(headers) });
    if (!writer.synchronous) return interceptors.enqueue(this.name, item, (headers) => Promise.resolve(writer.write(withHeaders(headers))));
    // SQLite: the row must be written before enqueue returns, so the chain must reach its end synchronously (as for tryEnqueue).
    let written: string | undefined;
    let thrown: { error: unknown } | undefined;
    let returned = false;
    const result = interceptors.enqueue(this.name, item, (headers) => {
      if (returned) return Promise.reject(new TypeError(OUTBOX_ASYNC_INTERCEPTOR(where)));
      try {
        written = writer.write(withHeaders(headers)) as string;
      } catch (error) {
        thrown = { error };
        return Promise.reject(error);
      }
      return Promise.resolve(written);
    });
    returned = true;
    result.catch(() => undefined);
    if (thrown) throw thrown.error;
    if (written === undefined) throw new TypeError(OUTBOX_ASYNC_INTERCEPTOR(where));
    return result;
  }

  /** The outbox row of `item`: its options checked as `enqueue` checks them, a delay as an instant, an id (given, or a new UUID). */
  private outboxEntry(where: string, item: T, options: EnqueueOptions, now: number): OutboxEntry {
    if (options.signal !== undefined) throw new TypeError(OUTBOX_SIGNAL_WITH_TRANSACTION(where));
    const itemOptions = this.itemOptions('enqueue', options, false);
    const orderingKey = OptionsValidator.for(where, { orderingKey: options.orderingKey }, ['orderingKey']).check<string>(
      'orderingKey',
      isOrderingKey,
      `a non-empty string of at most ${MAX_ORDERING_KEY_LENGTH} characters`,
    );
    try {
      assertJsonPayload(this.name, item);
    } catch (error) {
      const parts = JSON_PROBLEM.exec((error as Error).message);
      throw parts ? new TypeError(OUTBOX_PAYLOAD_NOT_JSON(where, parts[1]!, parts[2]!)) : error;
    }
    const { delayMs, id, ...stored } = itemOptions ?? {};
    const hasStored = Object.keys(stored).length > 0;
    return {
      queue: this.name,
      itemId: id ?? randomUUID(),
      ...(orderingKey !== undefined && { orderingKey }),
      payload: JSON.stringify(item),
      ...(hasStored && { options: JSON.stringify(stored) }),
      ...(delayMs !== undefined && { runAt: now + delayMs }),
      createdAt: now,
    };
  }

  /**
   * Cancels item `id`: a waiting (or delayed, or retry-waiting) item is removed and never runs
   * (`'removed'`); a running one has its `ctx.signal` aborted with `QueueItemCancelledError`
   * (`'aborted'`; on BullMQ whichever process runs it) and, if its handler then throws, ends as
   * cancelled: not retried, not a dead letter. `'not-found'` when no such item waits or runs.
   */
  cancel(id: string): Promise<CancelResult> {
    if (typeof id !== 'string' || id.length === 0)
      return Promise.reject(new TypeError(INVALID_OPTION_AT(`WorkQueue.cancel on queue "${this.name}"`, 'id', 'a non-empty string', id)));
    return this.backend.cancel(id);
  }

  /**
   * Resolves once every item enqueued so far has settled (processed, failed its last attempt, or
   * dropped), retries waiting out their backoff included; for tests and scripts, not request paths.
   * On virtual time a retry's backoff passes only as the test advances the clock: `await
   * time.advance(…)` first, or drain resolves once the backoff has been advanced past. Resolves at
   * once for a queue with no worker in this process, or a paused one (nothing would settle them).
   * On BullMQ it asks Redis every 50 ms.
   */
  drain(): Promise<void> {
    return this.backend.whenSettled?.(true) ?? Promise.resolve();
  }

  /** Items waiting (not yet handed to the worker; delayed ones and retries waiting out their backoff included). */
  get depth(): number {
    return this.backend.counts().depth;
  }

  /** Checks `enqueue` / `enqueueMany` options and turns them into the backend's `ItemOptions` (undefined when none apply). */
  private itemOptions(method: string, options: EnqueueOptions | EnqueueManyOptions<T>, many: boolean): ItemOptions | undefined {
    const where = `WorkQueue.${method} on queue "${this.name}"`;
    const check = OptionsValidator.for(where, options, ENQUEUE_KEYS);
    if (many) {
      for (const option of ['transaction', 'orderingKey'] as const)
        if ((options as Record<string, unknown>)[option] !== undefined) throw new TypeError(OUTBOX_MANY_WITH_TRANSACTION(where, option));
    } else if ((options as EnqueueOptions).orderingKey !== undefined && (options as EnqueueOptions).transaction === undefined) {
      throw new TypeError(OUTBOX_KEY_WITHOUT_TRANSACTION(where));
    }
    check.check('signal', isAbortSignal, 'an AbortSignal');
    let delayMs = check.duration('delayMs', DELAY_RULE);
    const runAt = check.check<Date>('runAt', isValidDate, 'a valid Date');
    if (runAt !== undefined) {
      if (delayMs !== undefined) check.fail('runAt', 'unset when delayMs is given (one or the other)');
      delayMs = Math.max(0, runAt.getTime() - this.time.now());
      if (delayMs > MAX_DELAY_MS) check.fail('runAt', `a Date at most ${MAX_DELAY_MS} ms (one year) ahead`);
    }
    const priority = check.check<number>('priority', isPriority, `an integer from 0 to ${MAX_PRIORITY}`);
    const id = many ? check.func<(item: T, index: number) => string>('id') : check.check<string>('id', isItemId, ITEM_ID);
    const idTtlMs = check.duration('idTtlMs', TIMER_RULE);
    if (idTtlMs !== undefined && id === undefined) check.fail('idTtlMs', 'unset unless an id is given');
    const attempts = check.positiveInteger('attempts');
    const backoff: BackoffOptions | undefined = checkBackoff(check);
    const timeoutMs = check.duration('timeoutMs', TIMER_RULE);
    if (
      delayMs === undefined &&
      !priority &&
      id === undefined &&
      attempts === undefined &&
      backoff === undefined &&
      timeoutMs === undefined
    )
      return undefined;
    return {
      ...(delayMs !== undefined && delayMs > 0 && { delayMs }),
      ...(priority ? { priority } : {}),
      ...(typeof id === 'string' && { id }),
      ...(idTtlMs !== undefined && { idTtlMs }),
      ...(attempts !== undefined && { attempts }),
      ...(backoff !== undefined && { backoff }),
      ...(timeoutMs !== undefined && { timeoutMs }),
    };
  }
}
