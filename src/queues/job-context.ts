import { ItemSignals } from './item-signals.js';
import type { ItemOptions } from './queue-backend.interface.js';
import { INVALID_PROGRESS } from '../hosting.messages.js';
import { OneCopy } from '../one-copy.js';

/**
 * What one delivery of a queue item knows about itself. In a scoped worker it is also the
 * request object: `@Inject(REQUEST)` in a request-scoped provider returns it.
 */
@OneCopy('JobContext')
export class JobContext {
  /** @internal when the handler started (as StatusTracker.itemStarted returned it), for the queue's status */
  startedAt = 0;
  /** @internal the headers as the backend found them: an object, or BullMQ's JSON text (parsed on first read) */
  carried?: Readonly<Record<string, string>> | string;
  /** @internal the item's own options (attempts, backoff, timeoutMs, …), when it was enqueued with some */
  itemOptions?: ItemOptions;
  /** @internal where `progress(value)` goes: the queue's `HostedQueue`, set as the delivery starts */
  progressSink?: { progress(context: JobContext, value: number | object): void };
  /** @internal the backend's handle on the delivery (BullMQ: its Job) */
  handle?: unknown;
  private key: string | number;
  private controller?: AbortController;

  /**
   * A delivery of item `id` of `queue`, try `attempt`, cancelled by `signal`. The queue makes one
   * per delivery; a unit test of a worker method may make one:
   * `new JobContext('emails', '1', 1, new AbortController().signal)`, with `headers` as an enqueue
   * interceptor would have written them.
   */
  constructor(queue: string, id: string, attempt: number, signal: AbortSignal, headers?: Readonly<Record<string, string>>);
  /** @internal the backends' form: a numeric id (memory) and the queue's `ItemSignals` */
  constructor(queue: string, id: string | number, attempt: number, signals: AbortSignal | ItemSignals);
  constructor(
    /** The queue's name. */
    readonly queue: string,
    /** The item's id: a string, or the memory backend's sequence number (turned into a string on first read). */
    id: string | number,
    /** 1 for the first try, then 2, 3, … up to `attempts`. */
    readonly attempt: number,
    /** The item's signal, or the queue's `ItemSignals` that make one when the handler first reads it. */
    private readonly signals: AbortSignal | ItemSignals,
    headers?: Readonly<Record<string, string>>,
  ) {
    this.key = id;
    if (headers !== undefined) this.carried = headers;
  }

  /**
   * Text headers written at `enqueue` by `WorkInterceptor.interceptEnqueue` (a trace context, a
   * request id), on every backend; empty when none were written.
   */
  get headers(): Readonly<Record<string, string>> {
    const carried = this.carried;
    if (carried === undefined) return NO_HEADERS;
    if (typeof carried === 'object') return carried;
    return (this.carried = parseHeaders(carried));
  }

  /** The item's id (unique per queue; BullMQ's job id on that backend). */
  get id(): string {
    const key = this.key;
    return typeof key === 'string' ? key : (this.key = String(key));
  }

  /** Aborts when the shutdown deadline passes while the item is being handled. Its own signal: listeners left on it go with the item. */
  get signal(): AbortSignal {
    const source = this.signals;
    if (!(source instanceof ItemSignals)) return source;
    return (this.controller ??= source.create()).signal;
  }

  /** @internal true when the item's signal aborted, without making a signal to find out */
  get aborted(): boolean {
    const source = this.signals;
    if (!(source instanceof ItemSignals)) return source.aborted;
    return this.controller ? this.controller.signal.aborted : source.aborted;
  }

  /** @internal the delivery ended: its signal is released from the queue */
  release(): void {
    if (this.controller && this.signals instanceof ItemSignals) this.signals.release(this.controller);
  }

  /**
   * Reports how far the item got: a number (a percentage, say) or a JSON object. Shown in the
   * queue's status (`progress`) and on the dashboard while the item runs; on BullMQ also the job's
   * own progress (its tools and QueueEvents see it). A TypeError names the bad value.
   */
  progress(value: number | object): void {
    const ok = (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'object' && value !== null && !Array.isArray(value));
    if (!ok) throw new TypeError(INVALID_PROGRESS(this.queue, this.id, value));
    this.progressSink?.progress(this, value);
  }

  /** @internal aborts the item's signal with `reason` (cancel, timeout); true when it was not aborted yet */
  abort(reason: unknown): boolean {
    const source = this.signals;
    if (!(source instanceof ItemSignals)) return false;
    const controller = (this.controller ??= source.create());
    if (controller.signal.aborted) return false;
    controller.abort(reason);
    return true;
  }

  /** `{ queue, id, attempt }`: what a log line or `JSON.stringify` shows of it. */
  toJSON(): { queue: string; id: string; attempt: number } {
    return { queue: this.queue, id: this.id, attempt: this.attempt };
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Headers from their JSON text (BullMQ keeps them in the job's options); anything but an object of strings gives none. */
function parseHeaders(text: string): Readonly<Record<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return NO_HEADERS;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return NO_HEADERS;
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') headers[key] = value;
  return Object.freeze(headers);
}
