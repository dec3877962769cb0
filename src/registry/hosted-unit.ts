import type { CancelResult, DeadLetterPage, QueueEvent, QueueEventName } from '../interfaces/queue-options.interface.js';
import type { ServiceKind, ServiceStatus } from '../interfaces/service-status.interface.js';

/** How the host asks a unit to stop. */
export interface StopRequest {
  /** Why the host stops (becomes the abort reason of running work). */
  reason: unknown;
  /** Aborts when the shutdown deadline passes: work still running then is abandoned. */
  deadline: AbortSignal;
}

/** Anything the host starts, stops and reports on: a background service, a periodic task, a queue. */
export interface HostedUnit {
  readonly name: string;
  readonly kind: ServiceKind;
  start(): void;
  /** Stops starting new work and signals running work; returns its settling (never rejects). */
  stop(request: StopRequest): Promise<unknown> | undefined;
  status(): ServiceStatus;
  trigger?(): Promise<void>;
  pause?(): void;
  resume?(): void;
  /** Background services: starts a faulted service again (throws `ServiceStateError` otherwise). */
  restart?(): void;
  /**
   * The settling of work in progress now (a tick, queued or in-flight queue items, a start about
   * to call `execute`), or undefined when there is none. Timers waiting (a backoff, the next slot)
   * and a long-running `execute` are not work in progress.
   */
  busyWork?(): Promise<unknown> | undefined;
}

/** A queue's listener of its events, and who it is (for the log line when it throws). */
export type QueueEventListener = (event: QueueEvent) => unknown;

/** What a queue (`HostedQueue`) offers beyond a unit: its items, for `HostingRegistry`'s queue methods. */
export interface QueueUnit extends HostedUnit {
  readonly kind: 'queue';
  /** A page of dead letters, newest first. */
  deadLetters(offset: number, limit: number): Promise<DeadLetterPage<unknown>>;
  /** Puts dead letters back (all when `id` is undefined); resolves with how many. */
  redrive(id?: string): Promise<number>;
  /** Deletes dead letters (all when `id` is undefined); resolves with how many. */
  discard(id?: string): Promise<number>;
  /** Removes a waiting item or aborts a running one. */
  cancel(id: string): Promise<CancelResult>;
  /**
   * Calls `listener` with the queue's `events` (every one when undefined); `owner` names it in the log
   * line when it throws or rejects. Returns the unsubscribe.
   */
  subscribe(events: readonly QueueEventName[] | undefined, listener: QueueEventListener, owner: string): () => void;
}

/** Whether `unit` is a queue with its item operations. */
export const isQueueUnit = (unit: HostedUnit): unit is QueueUnit => unit.kind === 'queue' && typeof (unit as Partial<QueueUnit>).deadLetters === 'function';
