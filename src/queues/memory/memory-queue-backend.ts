import { QUEUE_DEADLINE_PASSED, stackOf } from '../../hosting.messages.js';
import { TimeProvider, type TimerHandle } from '../../time/time-provider.js';
import { ItemSignals } from '../item-signals.js';
import type { QueueFullMode } from '../../interfaces/queue-options.interface.js';
import { JobContext } from '../job-context.js';
import type { CancelResult, DeadLetterPage } from '../../interfaces/queue-options.interface.js';
import { isPending, type JobProcessor, type QueueBackend, type QueueCounts, type WorkerPolicy } from '../queue-backend.interface.js';
import { retryDelayMs } from '../retry-delay.js';
import { MemoryChannel } from './memory-channel.js';

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
}

/** An item enqueued with headers, as the channel holds it (an item without headers is held as it is: no object per item). */
class Carried<T> {
  constructor(
    readonly data: T,
    readonly headers: Readonly<Record<string, string>>,
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

  constructor(private readonly options: MemoryQueueBackendOptions<T>) {
    this.channel = new MemoryChannel<T>({
      name: options.name,
      capacity: options.capacity,
      fullMode: options.fullMode,
      onDropped: (data) => options.onDropped(unwrap(data), this.channel.fullMode as 'dropOldest' | 'dropNewest'),
    });
  }

  enqueue(item: T, signal?: AbortSignal, headers?: Readonly<Record<string, string>>): Promise<string> {
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

  // H1a-TEMP: contract placeholders, replaced by the implementation
  enqueueMany(): Promise<string[]> { return Promise.reject(new Error('H1a-TEMP')); }
  cancel(): Promise<CancelResult> { return Promise.reject(new Error('H1a-TEMP')); }
  deadLetters(): Promise<DeadLetterPage<T>> { return Promise.reject(new Error('H1a-TEMP')); }
  redrive(): Promise<number> { return Promise.reject(new Error('H1a-TEMP')); }
  discard(): Promise<number> { return Promise.reject(new Error('H1a-TEMP')); }
  deadLetterCount(): number { return 0; }
  // H1a-TEMP end

  startWorker(process: JobProcessor<T>, policy: WorkerPolicy<T>): void {
    this.process = process;
    this.policy = policy;
    this.concurrency = policy.concurrency;
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
    return { undelivered: this.undelivered };
  }

  counts(): QueueCounts {
    return { depth: this.channel.size + this.retriesDue.length + this.retryTimers.size, inFlight: this.active };
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
    for (const slot of this.slots) {
      if (!slot.busy) continue;
      slot.dropped = true;
      inFlight.push(slot.data as T);
    }
    const left = [
      ...inFlight,
      ...this.channel.drain().map(unwrap),
      ...this.retriesDue.splice(0).map((job) => job.data),
      ...[...this.retryTimers.values()].map((job) => job.data),
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
    const slot: LaneSlot<T> = { busy: false, data: undefined, dropped: false };
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
    let data: T;
    let context: JobContext;
    let resolve: (() => void) | undefined;
    let reject: ((error: unknown) => void) | undefined;

    /** The item in hand ended: report it (unless the deadline dropped it already). */
    const finish = (failed: boolean, failure: unknown): void => {
      this.active--;
      slot.busy = false;
      slot.data = undefined;
      context.release();
      if (slot.dropped) {
        slot.dropped = false; // reported at the deadline already
        return;
      }
      if (!failed) policy.onAck(context);
      else {
        // The item is retried or reported even when reporting its failure throws (that ends the lane; see spawnLane).
        try {
          policy.onNack(context, failure);
        } finally {
          this.retryOrFail(data, context, failure);
        }
      }
      if (this.settledWaiters !== undefined) this.checkSettled();
    };

    /** Delivers items while one is ready; true when it left a handler running (its settling continues the loop). */
    const deliver = (): boolean => {
      while (!this.abandoned && this.paused === undefined) {
        if (this.retriesDue.length > 0) {
          const retry = this.retriesDue.shift()!;
          data = retry.data;
          context = new JobContext(name, retry.id, retry.attempt, signals);
          if (retry.headers !== undefined) context.carried = retry.headers;
        } else if (channel.size > 0) {
          context = new JobContext(name, channel.headTag, 1, signals);
          data = channel.shift();
          if (this.carrying && data instanceof Carried) {
            context.carried = (data as Carried<T>).headers;
            data = (data as Carried<T>).data;
          }
        } else return false;
        if (channel.size > 0) this.scheduleSpawn();
        // Delivery inline: a synchronous handler costs no promise, an asynchronous one a `then` on its own promise.
        this.active++;
        slot.busy = true;
        slot.data = data;
        let result: unknown;
        try {
          result = process(data, context);
        } catch (error) {
          finish(true, error);
          continue;
        }
        if (isPending(result)) {
          // A thenable that is not a native promise is adopted as `await` would (its `then` called in a job of its own).
          Promise.resolve(result).then(fulfilled, rejected);
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
    if (context.attempt >= policy.attempts) {
      policy.onFailed(data, context, error);
      return;
    }
    const retry: RetryDue<T> = { data, id: context.id, attempt: context.attempt + 1, headers: context.carried };
    const timer = (this.options.time ?? TimeProvider.system).setTimeout(() => {
      this.retryTimers.delete(timer);
      this.retriesDue.push(retry);
      this.wakeUp();
      this.scheduleSpawn();
    }, retryDelayMs(policy.backoff, context.attempt));
    this.retryTimers.set(timer, retry);
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
    return this.channel.size === 0 && this.retriesDue.length === 0 && (!retries || this.retryTimers.size === 0);
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
