import { OneCopy } from '../one-copy.js';

/**
 * What one run of a `@Periodic` task knows about itself. In a scoped tick it is also the
 * request object: `@Inject(REQUEST)` in a request-scoped provider returns it.
 */
@OneCopy('TickContext')
export class TickContext {
  /**
   * Made by the host for each run. A unit test of a `@Periodic` method may make one:
   * `new TickContext('purge', 1, Date.now(), new AbortController(), 0, false)`.
   */
  constructor(
    /** The task's name. */
    readonly name: string,
    /** 1 for the first run of this task in this process, then 2, 3, … */
    readonly tick: number,
    /** The scheduled slot, in ms since the epoch (`scheduledAt`). */
    private readonly scheduledAtMs: number,
    /** Its abort is the run's `signal`. */
    private readonly controller: AbortController,
    /** Ticks that passed while the previous run overran and were folded into this one. */
    readonly missedTicks: number,
    /** True when started through `HostingRegistry.trigger` rather than the schedule. */
    readonly triggered: boolean,
  ) {}

  /** The slot on the schedule this run stands for (the last one, when ticks were coalesced). */
  get scheduledAt(): Date {
    return new Date(this.scheduledAtMs);
  }

  /** Aborts when the host stops, or when `timeoutMs` passes. */
  get signal(): AbortSignal {
    // Node builds an AbortSignal lazily and it costs microseconds: only ticks that look pay for it.
    return this.controller.signal;
  }

  /**
   * A key stable across processes for this slot (task name + scheduled time), for idempotent
   * writes: a slot can run twice when an exclusive run's holder crashes.
   */
  get slotKey(): string {
    return `${this.name}@${this.scheduledAt.toISOString()}`;
  }
}
