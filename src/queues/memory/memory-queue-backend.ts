import { QUEUE_DEADLINE_PASSED, stackOf } from '../../hosting.messages.js';
import { TimeProvider, type TimerHandle } from '../../time/time-provider.js';
import { ItemSignals } from '../item-signals.js';
import type { QueueFullMode, RetentionOptions } from '../../interfaces/queue-options.interface.js';
import { JobContext } from '../job-context.js';
import type { CancelResult, DeadLetterPage } from '../../interfaces/queue-options.interface.js';
import { isPending, type ItemOptions, type JobProcessor, type QueueBackend, type QueueCounts, type WorkerPolicy } from '../queue-backend.interface.js';
import { QueueItemTimeoutError } from '../errors/queue-item-timeout.error.js';
import { retryAfterOf } from '../retry-after.js';
import { retryDelayMs } from '../retry-delay.js';
import { MemoryChannel } from './memory-channel.js';
import { QueueClosedError } from '../errors/queue-closed.error.js';
import { QueueFullError } from '../errors/queue-full.error.js';
import { QueueItemCancelledError } from '../errors/queue-item-cancelled.error.js';
import { DeadLetterStore } from './dead-letter-store.js';
import { DelayedItems } from './delayed-items.js';
import { ItemIds } from './item-ids.js';
import { RateGate } from './rate-gate.js';

/** Options of the in-process backend. */
export interface MemoryQueueBackendOptions<T> {
  name: string;
  capacity?: number;
  fullMode?: QueueFullMode;
  /** Items evicted by the full mode, or left undelivered at the shutdown deadline. */
  onDropped(item: T, reason: 'dropOldest' | 'dropNewest' | 'shutdown'): void;
  /** A lane ended with an error (only reporting an outcome can throw, e.g. a logger that throws). */
  onLaneFailed?(error: unknown): void;
  /** The clock of retry backoffs. @default TimeProvider.system */
  time?: TimeProvider;
  /** Dead letters kept (the queue's `deadLetters` option): `false` none. @default { count: 1000 } */
  deadLetters?: false | RetentionOptions;
}

/** Decimal strings of 0…999, and the last three digits of larger ids (`'000'`…`'999'`). */
const SMALL_IDS = Array.from({ length: 1000 }, (_, i) => String(i));
const LAST_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** An item waiting out its backoff before its next try. */
interface RetryDue<T> {
  data: T;
  id: string;
  attempt: number;
  headers: JobContext['carried'];
  /** The item's own options (attempts, backoff, timeoutMs), carried to its next try. */
  options?: ItemOptions;
}

/**
 * An item enqueued with headers and/or its own options (an id, a priority, attempts, …), as the
 * channel and the delayed items hold it; an item without either is held as it is: no object per item.
 */
class Carried<T> {
  constructor(
    readonly data: T,
    readonly headers: Readonly<Record<string, string>> | undefined,
    readonly options?: ItemOptions,
  ) {}
}

/** The item itself, out of its `Carried` wrapper if it has one. */
function unwrap<T>(held: T | Carried<T>): T {
  return held instanceof Carried ? held.data : held;
}

/** What one lane is handling: a record per lane, reused for every item it takes (none per item). */
interface LaneSlot<T> {
  busy: boolean;
  data: T | undefined;
  /** Handed to `onDropped` at the shutdown deadline while its handler still ran: its outcome no longer counts. */
  dropped: boolean;
  /** `cancel(id)` aborted the item in hand: a failure of this try ends it as cancelled (no retry, no dead letter). */
  cancelled: boolean;
  /** The item in hand's delivery (set as the lane takes it; meaningful while `busy`): what `cancel(id)` looks for. */
  context: JobContext | undefined;
  /** The try's `timeoutMs` timer, while one runs (none when no timeout applies). */
  timer: TimerHandle | undefined;
}

/**
 * The embedded backend: a `MemoryChannel` (bounded, with backpressure) and up to `concurrency`
 * lanes that take items in order (see `scheduleSpawn` for when lanes are added). Retries wait
 * out their backoff beside the channel, not in it, so a failing item never holds up the items
 * behind it and never counts against the capacity.
 *
 * The channel holds the items themselves, with their ids as its numeric tags: a queued item
 * costs a slot, not an object (a backlog of a million items is not a million records for the
 * garbage collector to move). The item's `JobContext` is made when a lane takes it.
 */
export class MemoryQueueBackend<T> implements QueueBackend<T> {
  private readonly channel: MemoryChannel<T>;
  private readonly retriesDue: RetryDue<T>[] = [];
  private readonly retryTimers = new Map<TimerHandle, RetryDue<T>>();
  /** `whenSettled` callers, checked as items finish (undefined while nobody waits: nothing on the hot path). */
  private settledWaiters?: Array<{ retries: boolean; resolve: () => void }>;
  private readonly itemSignals = new ItemSignals();
  private readonly slots = new Set<LaneSlot<T>>();
  private process?: JobProcessor<T>;
  private policy?: WorkerPolicy<T>;
  private readonly lanes = new Set<Promise<void>>();
  private concurrency = 0;
  private spawnScheduled = false;
  private nextId = 0;
  /** The thousands of the last id made by `idText`, and their decimal string. */
  private idThousands = 0;
  private idPrefix = '0';
  private active = 0;
  private paused?: { promise: Promise<void>; resolve: () => void };
  private idle = new AbortController();
  private abandoned = false;
  private undelivered = 0;
  /** Some item was enqueued with headers: delivery looks for `Carried` wrappers from now on. */
  private carrying = false;
  /** The worker's `limiter` and `RateLimitedError` pauses (undefined until either applies: nothing on the hot path). */
  private gate?: RateGate;
  /** Items enqueued with `delayMs` (or `runAt`), beside the channel until due. */
  private readonly delayed: DelayedItems<T>;
  /** Ids given at enqueue, for deduplication. */
  private readonly ids: ItemIds;
  /** Items that failed their last try (undefined when the queue keeps none). */
  private readonly deadLetterStore?: DeadLetterStore<T>;

  constructor(private readonly options: MemoryQueueBackendOptions<T>) {
    this.channel = new MemoryChannel<T>({
      name: options.name,
      capacity: options.capacity,
      fullMode: options.fullMode,
      onDropped: (data) => {
        this.leave(data);
        options.onDropped(unwrap(data), this.channel.fullMode as 'dropOldest' | 'dropNewest');
      },
    });
    const time = options.time ?? TimeProvider.system;
    this.ids = new ItemIds(time);
    // A delayed item that is due is delivered before the channel's items, as a due retry is.
    this.delayed = new DelayedItems<T>(time, (held, tag) => {
      const carried = held as Carried<T>;
      this.retriesDue.push({ data: carried.data, id: carried.options?.id ?? this.idText(tag), attempt: 1, headers: carried.headers, options: carried.options });
      this.wakeUp();
      this.scheduleSpawn();
    });
    if (options.deadLetters !== false)
      this.deadLetterStore = new DeadLetterStore<T>(options.deadLetters ?? {}, time, (letter) => {
        if (letter.itemOptions?.id !== undefined) this.ids.release(letter.itemOptions.id);
      });
  }

  enqueue(item: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>, options?: ItemOptions): Promise<string> {
    if (options !== undefined) return this.enqueueWith(item, signal, headers, options);
    this.scheduleSpawn();
    const id = ++this.nextId;
    let data = item;
    if (headers !== undefined) {
      this.carrying = true;
      data = new Carried(item, headers) as T;
    }
    try {
      if (!signal?.aborted && this.channel.tryWrite(data, id)) return Promise.resolve(this.idText(id));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.channel.write(data, signal, id).then(() => this.idText(id));
  }

  /**
   * `String(id)`, made from a cached prefix and a table of three-digit endings: a number's
   * conversion to a string cost a third of an `enqueue`. The `JobContext` of the item turns the
   * same number into the same string.
   */
  private idText(id: number): string {
    if (id < 1000) return SMALL_IDS[id];
    const thousands = Math.floor(id / 1000);
    if (thousands !== this.idThousands) {
      this.idThousands = thousands;
      this.idPrefix = String(thousands);
    }
    return this.idPrefix + LAST_DIGITS[id - thousands * 1000];
  }

  /**
   * `enqueue` of an item with its own options: an id already taken resolves with it and adds nothing;
   * a delay keeps the item beside the channel until due (not against the capacity); a priority puts it
   * in the channel's prioritized items. The item travels in a `Carried` with its options.
   */
  private enqueueWith(item: T, signal: AbortSignal | undefined, headers: Readonly<Record<string, string>> | undefined, options: ItemOptions): Promise<string> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.channel.isCompleted) return Promise.reject(new QueueClosedError(this.options.name));
    const given = options.id;
    if (given !== undefined && !this.ids.claim(given, options.idTtlMs)) return Promise.resolve(given);
    const tag = ++this.nextId;
    const id = given ?? this.idText(tag);
    this.carrying = true;
    const held = new Carried(item, headers, options) as T;
    this.scheduleSpawn();
    if (options.delayMs !== undefined && options.delayMs > 0) {
      this.delayed.add(held, tag, options.delayMs);
      return Promise.resolve(id);
    }
    const priority = options.priority ?? 0;
    try {
      if (this.channel.tryWritePrioritized(held, tag, priority)) return Promise.resolve(id);
    } catch (error) {
      if (given !== undefined) this.ids.unclaim(given);
      return Promise.reject(error);
    }
    return this.channel.write(held, signal, tag, priority).then(
      () => id,
      (error: unknown) => {
        if (given !== undefined) this.ids.unclaim(given);
        throw error;
      },
    );
  }

  /**
   * Writes the items in order in one synchronous pass (the worker wakes up once, for all of them):
   * each follows `fullMode`; in `'wait'` mode the first that finds no room and every one after it
   * wait for room, in order. `'reject'` rejects at the first that does not fit (those before it stay).
   */
  enqueueMany(items: readonly T[], options: ItemOptions | undefined, ids: readonly string[] | undefined, headers?: Readonly<Record<string, string>>): Promise<string[]> {
    if (this.channel.isCompleted) return Promise.reject(new QueueClosedError(this.options.name));
    const result = new Array<string>(items.length);
    let waits: Array<Promise<void>> | undefined;
    this.scheduleSpawn();
    for (let i = 0; i < items.length; i++) {
      const given = ids?.[i];
      if (given !== undefined && !this.ids.claim(given, options?.idTtlMs)) {
        result[i] = given;
        continue;
      }
      const tag = ++this.nextId;
      result[i] = given ?? this.idText(tag);
      const own = given === undefined ? options : { ...options, id: given };
      let held = items[i];
      if (own !== undefined || headers !== undefined) {
        this.carrying = true;
        held = new Carried(held, headers, own) as T;
      }
      if (own?.delayMs !== undefined && own.delayMs > 0) {
        this.delayed.add(held, tag, own.delayMs);
        continue;
      }
      const priority = own?.priority ?? 0;
      if (waits === undefined) {
        try {
          if (this.channel.tryWritePrioritized(held, tag, priority)) continue;
        } catch (error) {
          if (given !== undefined) this.ids.unclaim(given);
          return Promise.reject(error);
        }
      }
      (waits ??= []).push(
        this.channel.write(held, undefined, tag, priority).catch((error: unknown) => {
          if (given !== undefined) this.ids.unclaim(given);
          throw error;
        }),
      );
    }
    if (waits === undefined) return Promise.resolve(result);
    return Promise.all(waits).then(() => result);
  }

  /**
   * Adds the item when there is room and returns true; false when the queue is full, whatever its
   * `fullMode`. Throws `QueueClosedError` after `closeIntake`. No promise, no id string: less work
   * than `enqueue`'s fast path.
   */
  tryEnqueue(item: T, headers?: Readonly<Record<string, string>>): boolean {
    const tag = this.nextId + 1;
    let data = item;
    if (headers !== undefined) {
      this.carrying = true;
      data = new Carried(item, headers) as T;
    }
    if (!this.channel.offer(data, tag)) return false;
    this.nextId = tag;
    this.scheduleSpawn();
    return true;
  }

  /**
   * Cancels item `id`: a running one has its signal aborted with `QueueItemCancelledError` and its
   * lane slot marked `cancelled` (`finish` ends a failing try of it as cancelled): `'aborted'`. A
   * waiting (queued, or still waiting for room), delayed or retry-waiting one is removed, reported to
   * `onCancelled` and its id freed: `'removed'`. O(n) in the items held: cancels are rare.
   */
  cancel(id: string): Promise<CancelResult> {
    for (const slot of this.slots) {
      const context = slot.context;
      if (!slot.busy || context === undefined || context.id !== id) continue;
      slot.cancelled = true;
      context.abort(new QueueItemCancelledError(this.options.name, id));
      return Promise.resolve('aborted');
    }
    const numeric = /^\d+$/.test(id) ? Number(id) : undefined;
    const match = (held: T, tag: number): boolean =>
      held instanceof Carried && held.options?.id !== undefined ? held.options.id === id : tag === numeric;
    let found = this.channel.removeWhere(match) !== undefined || this.delayed.removeWhere(match) !== undefined;
    if (!found) {
      const due = this.retriesDue.findIndex((retry) => retry.id === id);
      if (due >= 0) {
        this.retriesDue.splice(due, 1);
        found = true;
      }
    }
    if (!found)
      for (const [timer, retry] of this.retryTimers) {
        if (retry.id !== id) continue;
        timer.clear();
        this.retryTimers.delete(timer);
        found = true;
        break;
      }
    if (!found) return Promise.resolve('not-found');
    this.ids.release(id);
    const policy = this.policy;
    if (policy !== undefined) {
      policy.onCancelled(id);
      if (this.active === 0 && this.nothingWaits()) policy.onDrained?.();
    }
    if (this.settledWaiters !== undefined) this.checkSettled();
    return Promise.resolve('removed');
  }

  /** A page of the dead letters, newest first. */
  deadLetters(offset: number, limit: number): Promise<DeadLetterPage<T>> {
    return Promise.resolve(this.deadLetterStore?.page(offset, limit) ?? { total: 0, items: [] });
  }

  /**
   * Puts dead letter `id` (every one, oldest first, when undefined) back in the channel as new: try 1,
   * the same id, data, headers and options (its priority kept; a delay is not waited again). Follows
   * `fullMode`: in `'wait'` mode it waits for room, the drop modes evict, and in `'reject'` mode it
   * stops at the first that does not fit (that one and the rest stay dead letters). Resolves with how
   * many went back; rejects with `QueueClosedError` once shutdown began (the letters stay).
   */
  async redrive(id?: string): Promise<number> {
    const store = this.deadLetterStore;
    if (store === undefined) return 0;
    if (this.channel.isCompleted) throw new QueueClosedError(this.options.name);
    const letters = store.take(id);
    let count = 0;
    for (; count < letters.length; count++) {
      const letter = letters[count];
      const own = letter.itemOptions;
      const given = own?.id;
      const tag = given === undefined ? Number(letter.id) : ++this.nextId;
      let held = letter.data;
      if (own !== undefined || letter.headers !== undefined) {
        this.carrying = true;
        held = new Carried(letter.data, letter.headers, own) as T;
      }
      const priority = own?.priority ?? 0;
      this.scheduleSpawn();
      try {
        if (!this.channel.tryWritePrioritized(held, tag, priority)) await this.channel.write(held, undefined, tag, priority);
      } catch (error) {
        store.restore(letters.slice(count));
        if (error instanceof QueueFullError) break;
        throw error;
      }
    }
    return count;
  }

  /** Deletes dead letter `id` (every one when undefined); its id is free again. Resolves with how many. */
  discard(id?: string): Promise<number> {
    const letters = this.deadLetterStore?.take(id) ?? [];
    for (const letter of letters) if (letter.itemOptions?.id !== undefined) this.ids.release(letter.itemOptions.id);
    return Promise.resolve(letters.length);
  }

  deadLetterCount(): number {
    return this.deadLetterStore?.size ?? 0;
  }

  /** An item left the queue without running to its end (evicted by the full mode): its id is free. */
  private leave(held: T): void {
    if (held instanceof Carried && held.options?.id !== undefined) this.ids.release(held.options.id);
  }

  /** The item's last try failed: it becomes a dead letter (or, when the queue keeps none, its id is free). */
  private bury(data: T, context: JobContext, error: unknown): void {
    const own = context.itemOptions;
    const store = this.deadLetterStore;
    if (store === undefined) {
      if (own?.id !== undefined) this.ids.release(own.id);
      return;
    }
    const carried = context.carried;
    store.add(context.id, data, error, context.attempt, typeof carried === 'object' ? carried : undefined, own);
  }

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    this.process = process;
    this.policy = policy;
    this.concurrency = policy.concurrency;
    if (policy.limiter !== undefined) this.gate = new RateGate(this.options.time ?? TimeProvider.system, policy.limiter);
    this.spawnLane(true);
  }

  closeIntake(): void {
    this.channel.complete();
  }

  async stop(deadline: AbortSignal): Promise<{ undelivered: number }> {
    this.closeIntake();
    // Without a worker nothing drains: what is queued is reported as undelivered now, not lost silently.
    if (!this.process) this.abandon();
    this.resume();
    let onDeadline!: () => void;
    const deadlinePassed = new Promise<void>((resolve) => {
      onDeadline = () => {
        this.abandon();
        resolve();
      };
    });
    if (deadline.aborted) onDeadline();
    else deadline.addEventListener('abort', onDeadline, { once: true });
    // Handlers that ignore their signal are abandoned at the deadline, not awaited for ever.
    await Promise.race([this.allLanesDone(), deadlinePassed]);
    deadline.removeEventListener('abort', onDeadline);
    // Delayed items not due by the time the queue drained do not hold the stop: undelivered, reported.
    if (this.delayed.size > 0) {
      const left = this.delayed.takeAll();
      this.undelivered += left.length;
      for (const held of left) this.options.onDropped(unwrap(held), 'shutdown');
    }
    return { undelivered: this.undelivered };
  }

  counts(): QueueCounts {
    return { depth: this.channel.size + this.retriesDue.length + this.retryTimers.size + this.delayed.size, inFlight: this.active };
  }

  rateLimitedUntil(): number | undefined {
    return this.gate?.closedUntilEpoch();
  }

  pause(): void {
    if (this.paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.paused = { promise, resolve };
    if (this.settledWaiters !== undefined) this.checkSettled();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused.resolve();
    this.paused = undefined;
    this.scheduleSpawn();
  }

  /**
   * Lanes beyond the first are added only while every lane is busy with a handler that is still
   * pending at the next turn of the event loop (checked in a `setImmediate`), up to `concurrency`,
   * and leave again when they find nothing to do. Handlers that finish within their turn run on
   * one lane, in order, without the cost of interleaving several; slow ones get `concurrency`
   * lanes within as many turns.
   */
  private scheduleSpawn(): void {
    if (this.spawnScheduled || this.lanes.size >= this.concurrency) return;
    this.spawnScheduled = true;
    setImmediate(() => {
      this.spawnScheduled = false;
      if (this.abandoned || this.paused || this.lanes.size >= this.concurrency || this.active < this.lanes.size) return;
      if (this.channel.size > 0 || this.retriesDue.length > 0) this.spawnLane(false);
    });
  }

  private spawnLane(primary: boolean): void {
    const lane = this.lane(primary);
    this.lanes.add(lane);
    const ended = () => this.lanes.delete(lane);
    lane.then(ended, (error: unknown) => {
      // Only reporting can throw here (a logger that throws): never an unhandled rejection, never silent.
      ended();
      if (primary && !this.abandoned) this.spawnLane(true);
      try {
        this.options.onLaneFailed?.(error);
      } catch {
        process.emitWarning(`nest-hosting: a worker lane of queue "${this.options.name}" stopped: ${stackOf(error)}`);
      }
    });
  }

  private async allLanesDone(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes]);
  }

  /**
   * At the deadline: drop (and report) everything not delivered — queued items, retries waiting
   * out their backoff, and items whose handler is still running (their outcome no longer counts:
   * each item is reported once, as processed, failed or dropped) — then abort the handlers' signals.
   */
  private abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    const inFlight: T[] = [];
    this.gate?.dispose();
    for (const slot of this.slots) {
      slot.timer?.clear();
      slot.timer = undefined;
      if (!slot.busy) continue;
      slot.dropped = true;
      inFlight.push(slot.data as T);
    }
    const left = [
      ...inFlight,
      ...this.channel.drain().map(unwrap),
      ...this.retriesDue.splice(0).map((job) => job.data),
      ...[...this.retryTimers.values()].map((job) => job.data),
      ...this.delayed.takeAll().map(unwrap),
    ];
    for (const timer of this.retryTimers.keys()) timer.clear();
    this.retryTimers.clear();
    this.undelivered = left.length;
    for (const data of left) this.options.onDropped(data, 'shutdown');
    this.itemSignals.abortAll(new Error(QUEUE_DEADLINE_PASSED(this.options.name)));
    this.idle.abort();
    if (this.settledWaiters !== undefined) this.checkSettled();
  }

  /** Hands out items in order; the primary lane also waits for new items and due retries, the others leave when idle. */
  private async lane(primary: boolean): Promise<void> {
    const slot: LaneSlot<T> = { busy: false, data: undefined, dropped: false, cancelled: false, timer: undefined, context: undefined };
    this.slots.add(slot);
    try {
      await this.takeItems(primary, slot);
    } finally {
      this.slots.delete(slot);
    }
  }

  private async takeItems(primary: boolean, slot: LaneSlot<T>): Promise<void> {
    const channel = this.channel;
    const burst = this.burst(slot);
    for (;;) {
      if (this.abandoned) return;
      if (this.paused) {
        await this.paused.promise;
        continue;
      }
      if (this.retriesDue.length > 0 || channel.size > 0) {
        const gate = this.gate;
        if (gate !== undefined) {
          // The limiter's window is full, or a handler asked for a pause: wait for the gate's one timer (or a wake-up).
          const until = gate.closedUntil();
          if (until !== 0) {
            await gate.wait(until, this.idle.signal);
            continue;
          }
        }
        const running = burst();
        if (running !== undefined) await running;
        continue;
      }
      if (!primary) return;
      let more: boolean;
      try {
        more = await channel.waitToRead(this.idle.signal);
      } catch {
        continue; // woken up: a retry is due, or the deadline passed
      }
      if (!more) {
        // Intake closed and the channel is empty: done, unless retries are still due.
        if (this.retryTimers.size === 0 && this.retriesDue.length === 0) return;
        await this.waitForWakeUp();
      }
    }
  }

  /**
   * A lane's delivery loop: each call delivers items in order while one is ready (not paused, not
   * past the deadline), and returns undefined when every handler finished synchronously, or a
   * promise that settles when the loop has run dry (rejecting when reporting an outcome threw).
   * A pending handler's promise is continued with `then` and two callbacks made once per lane:
   * an `await` per item in an async function costs a third more per item than that.
   */
  private burst(slot: LaneSlot<T>): () => Promise<void> | undefined {
    const process = this.process!;
    const policy = this.policy!;
    const channel = this.channel;
    const name = this.options.name;
    const signals = this.itemSignals;
    const time = this.options.time ?? TimeProvider.system;
    let data: T;
    let context: JobContext;
    let resolve: (() => void) | undefined;
    let reject: ((error: unknown) => void) | undefined;

    /** The item in hand ended: report it (unless the deadline dropped it already). */
    const finish = (failed: boolean, failure: unknown): void => {
      this.active--;
      slot.busy = false;
      slot.data = undefined;
      const cancelled = slot.cancelled;
      slot.cancelled = false;
      context.release();
      if (slot.dropped) {
        slot.dropped = false; // reported at the deadline already
        return;
      }
      // An id given at enqueue is free again once its item completed or ended as cancelled (first: reporting may throw).
      const ownId = context.itemOptions?.id;
      if (ownId !== undefined && (!failed || cancelled)) this.ids.release(ownId);
      if (!failed) policy.onAck(context);
      else if (cancelled) policy.onCancelled(context.id, context); // cancel(id) aborted it and it gave up: not retried, not a dead letter
      else {
        let error = failure;
        const retryAfter = retryAfterOf(failure, name, context.id);
        if (typeof retryAfter === 'number') this.rateLimited(data, context, retryAfter);
        else {
          if (retryAfter !== undefined) error = retryAfter; // a RateLimitedError with a bad retryAfterMs fails the try
          // The item is retried or reported even when reporting its failure throws (that ends the lane; see spawnLane).
          try {
            policy.onNack(context, error);
          } finally {
            this.retryOrFail(data, context, error);
          }
        }
      }
      if (this.active === 0 && policy.onDrained !== undefined && this.nothingWaits()) policy.onDrained();
      if (this.settledWaiters !== undefined) this.checkSettled();
    };

    /** Delivers items while one is ready; true when it left a handler running (its settling continues the loop). */
    const deliver = (): boolean => {
      while (!this.abandoned && this.paused === undefined) {
        // The limiter or a RateLimitedError pause: the lane waits for the gate (see takeItems).
        if (this.gate !== undefined && this.gate.closedUntil() !== 0) return false;
        if (this.retriesDue.length > 0) {
          const retry = this.retriesDue.shift()!;
          data = retry.data;
          context = new JobContext(name, retry.id, retry.attempt, signals);
          if (retry.headers !== undefined) context.carried = retry.headers;
          if (retry.options !== undefined) context.itemOptions = retry.options;
        } else if (channel.size > 0) {
          const tag = channel.headTag;
          data = channel.shift();
          if (this.carrying && data instanceof Carried) {
            // Headers and/or the item's own options; an id given at enqueue is the item's id.
            const held = data as Carried<T>;
            data = held.data;
            const own = held.options;
            context = new JobContext(name, own?.id ?? tag, 1, signals);
            if (held.headers !== undefined) context.carried = held.headers;
            if (own !== undefined) context.itemOptions = own;
          } else context = new JobContext(name, tag, 1, signals);
        } else return false;
        if (channel.size > 0) this.scheduleSpawn();
        // Delivery inline: a synchronous handler costs no promise, an asynchronous one a `then` on its own promise.
        this.active++;
        slot.busy = true;
        slot.data = data;
        slot.context = context;
        this.gate?.started();
        let result: unknown;
        try {
          result = process(data, context);
        } catch (error) {
          finish(true, error);
          continue;
        }
        if (isPending(result)) {
          const timeoutMs = context.itemOptions?.timeoutMs ?? policy.timeoutMs;
          // A thenable that is not a native promise is adopted as `await` would (its `then` called in a job of its own).
          if (timeoutMs === undefined) Promise.resolve(result).then(fulfilled, rejected);
          else timed(result, timeoutMs);
          return true;
        }
        finish(false, undefined);
      }
      return false;
    };

    const settled = (failed: boolean, failure: unknown): void => {
      try {
        finish(failed, failure);
        if (deliver()) return;
      } catch (error) {
        const fail = reject!;
        resolve = reject = undefined;
        fail(error);
        return;
      }
      const done = resolve!;
      resolve = reject = undefined;
      done();
    };
    const fulfilled = (): void => settled(false, undefined);
    const rejected = (error: unknown): void => settled(true, error);

    /**
     * A try with a `timeoutMs`: whichever comes first — the handler settling, or the timer — ends
     * it; the other is ignored (`ended` counts the lane's timed tries). At the timer the item's signal
     * aborts with `QueueItemTimeoutError`, the try fails with it, and the lane goes on to the next item
     * while the abandoned handler may still run: it no longer counts against `concurrency`, nor in
     * `inFlight`, and its outcome is never reported.
     */
    let ended = 0;
    const timed = (result: PromiseLike<unknown>, ms: number): void => {
      const own = ++ended;
      const timedContext = context;
      slot.timer = time.setTimeout(() => {
        if (own !== ended) return;
        ended++;
        slot.timer = undefined;
        const error = new QueueItemTimeoutError(name, timedContext.id, ms);
        timedContext.abort(error);
        settled(true, error);
      }, ms);
      const settledFirst = (failed: boolean, failure: unknown): void => {
        if (own !== ended) return;
        ended++;
        slot.timer?.clear();
        slot.timer = undefined;
        settled(failed, failure);
      };
      Promise.resolve(result).then(
        () => settledFirst(false, undefined),
        (error: unknown) => settledFirst(true, error),
      );
    };

    return () => {
      if (!deliver()) return undefined;
      return new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
    };
  }

  private retryOrFail(data: T, context: JobContext, error: unknown): void {
    const policy = this.policy!;
    if (this.abandoned) {
      // Past the deadline no retry can run: the item was not given all its tries, so it was dropped, not failed.
      this.undelivered++;
      this.options.onDropped(data, 'shutdown');
      return;
    }
    const own = context.itemOptions;
    if (context.attempt >= (own?.attempts ?? policy.attempts)) {
      // Kept as a dead letter first: onFailed's listeners (events, logs) find it there.
      this.bury(data, context, error);
      policy.onFailed(data, context, error);
      return;
    }
    const retry: RetryDue<T> = { data, id: context.id, attempt: context.attempt + 1, headers: context.carried, options: own };
    const timer = (this.options.time ?? TimeProvider.system).setTimeout(() => {
      this.retryTimers.delete(timer);
      this.retriesDue.push(retry);
      this.wakeUp();
      this.scheduleSpawn();
    }, retryDelayMs(own?.backoff ?? policy.backoff, context.attempt));
    this.retryTimers.set(timer, retry);
  }

  /**
   * The handler threw `RateLimitedError`: the item goes back to the head of the queue with the same
   * attempt number (the try does not count), and no lane starts a try until `retryAfterMs` passed.
   */
  private rateLimited(data: T, context: JobContext, retryAfterMs: number): void {
    if (this.abandoned) {
      this.undelivered++;
      this.options.onDropped(data, 'shutdown');
      return;
    }
    this.retriesDue.unshift({ data, id: context.id, attempt: context.attempt, headers: context.carried, options: context.itemOptions });
    const until = (this.gate ??= new RateGate(this.options.time ?? TimeProvider.system, undefined)).pauseFor(retryAfterMs);
    this.policy!.onRateLimited(context, until);
  }

  /** Nothing waits to be delivered: no item queued, due, or waiting out a backoff. */
  private nothingWaits(): boolean {
    return this.channel.size === 0 && this.retriesDue.length === 0 && this.retryTimers.size === 0 && this.delayed.size === 0;
  }

  whenSettled(retries: boolean): Promise<void> | undefined {
    if (this.isSettled(retries)) return undefined;
    return new Promise<void>((resolve) => (this.settledWaiters ??= []).push({ retries, resolve }));
  }

  /**
   * Nothing left that will run without outside help: no item in flight, and none queued or due
   * unless nothing can take it (no worker, paused, or past the deadline).
   */
  private isSettled(retries: boolean): boolean {
    if (this.active > 0) return false;
    if (this.abandoned || !this.process || this.paused) return true;
    return this.channel.size === 0 && this.retriesDue.length === 0 && (!retries || (this.retryTimers.size === 0 && this.delayed.size === 0));
  }

  private checkSettled(): void {
    const waiters = this.settledWaiters!;
    const left = waiters.filter((waiter) => {
      if (!this.isSettled(waiter.retries)) return true;
      waiter.resolve();
      return false;
    });
    this.settledWaiters = left.length > 0 ? left : undefined;
  }

  private wakeUp(): void {
    this.idle.abort();
    this.idle = new AbortController();
  }

  private waitForWakeUp(): Promise<void> {
    const { signal } = this.idle;
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}
