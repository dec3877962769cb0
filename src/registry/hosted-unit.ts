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
