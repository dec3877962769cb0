import { FixedRateSchedule, type Schedule } from './schedule.js';

/**
 * A periodic task's missed-run budget: a fixed time (`staleAfterMs`), or a number of slots of its
 * schedule plus its `timeoutMs` (`HostingOptions.staleAfterPeriods`).
 */
export type StaleBudget = { afterMs: number } | { afterPeriods: number; timeoutMs: number };

/** Where a periodic task stands against its budget at one instant (epoch milliseconds). */
export interface Staleness {
  /** Past `dueBy` without a success. */
  late: boolean;
  /** When it should have succeeded again by. */
  dueBy: number;
  /** Its last success (on any instance, for an exclusive task), if any. */
  succeededAt?: number;
  /** The reference the budget counts from: the last success, or the task's start. */
  since: number;
  /** `dueBy - since`: how long the budget is. */
  budgetMs: number;
}

/**
 * The deadline of a periodic task's next success, from a reference instant: `afterMs` after it, or
 * the `afterPeriods`-th slot after it (an interval: `ref + n·period`; a cron: its n-th instant after
 * `ref`) plus `timeoutMs`. The last answer is kept: a reference changes once per success.
 */
export class StaleDeadline {
  private ref = Number.NaN;
  private due = 0;

  constructor(
    readonly budget: StaleBudget,
    private readonly schedule: Schedule,
  ) {}

  /**
   * The deadline's distance from its reference when it is the same for every reference (a fixed
   * time, or slots of a fixed-rate grid); NaN for a cron budget (its slots are not evenly spaced).
   */
  get fixedOffset(): number {
    const budget = this.budget;
    if ('afterMs' in budget) return budget.afterMs;
    const { schedule } = this;
    return schedule instanceof FixedRateSchedule ? budget.afterPeriods * schedule.periodMs + budget.timeoutMs : Number.NaN;
  }

  /** The deadline for a reference instant (epoch ms). */
  dueBy(ref: number): number {
    if (ref === this.ref) return this.due;
    this.ref = ref;
    this.due = this.compute(ref);
    return this.due;
  }

  private compute(ref: number): number {
    const offset = this.fixedOffset;
    if (!Number.isNaN(offset)) return ref + offset;
    const budget = this.budget as { afterPeriods: number; timeoutMs: number };
    let slot = ref;
    for (let i = 0; i < budget.afterPeriods; i++) slot = this.schedule.next(slot);
    return slot + budget.timeoutMs;
  }
}
