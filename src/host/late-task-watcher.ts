import type { LoggerService } from '@nestjs/common';
import { DEFAULT_STALE_AFTER_PERIODS } from '../hosting.constants.js';
import { TASK_LATE, TASK_NO_LONGER_LATE, type StaleBudgetText } from '../hosting.messages.js';
import type { HostedUnit } from '../registry/hosted-unit.js';
import type { PeriodicTaskDefinition } from '../scheduling/periodic-task-definition.js';
import { PeriodicTimer } from '../scheduling/periodic-timer.js';
import type { StaleBudget } from '../scheduling/staleness.js';
import { watchdog, type TimeProvider, type TimerHandle } from '../time/time-provider.js';

/** The watcher looks at least this often while a task is checked (a wall clock set, a late task's recovery)… */
const MIN_SWEEP_MS = 1_000;
/** …and at most this rarely. */
const MAX_SWEEP_MS = 60_000;

/**
 * A periodic task's missed-run budget: its own `staleAfterMs`, else the host's `staleAfterPeriods`
 * (2 by default) slots plus its `timeoutMs`; undefined when either says `false`.
 */
export function staleBudgetOf(definition: Pick<PeriodicTaskDefinition, 'staleAfterMs' | 'timeoutMs'>, staleAfterPeriods: number | false | undefined): StaleBudget | undefined {
  const { staleAfterMs } = definition;
  if (staleAfterMs !== undefined) return staleAfterMs === false ? undefined : { afterMs: staleAfterMs };
  const periods = staleAfterPeriods ?? DEFAULT_STALE_AFTER_PERIODS;
  return periods === false ? undefined : { afterPeriods: periods, timeoutMs: definition.timeoutMs ?? 0 };
}

/**
 * Missed-run alerts for the whole host: one timer on the host's clock that sweeps every periodic
 * task, logs one warning when a task becomes late and one line when it succeeds again. Nothing on
 * a tick's path: a task's `late` in its status is computed when it is read; this only says it.
 *
 * It wakes at the earliest deadline of the tasks not yet late, and at least every quarter of the
 * smallest budget (1 s to 60 s), when exclusive tasks also read the cluster's last success from
 * Redis. Its timer is a watchdog: a virtual clock does not take it for work waiting on time.
 */
export class LateTaskWatcher {
  private timer?: TimerHandle;
  private running = false;
  /** Tasks reported late, not yet recovered. */
  private readonly reported = new Set<PeriodicTimer>();
  /** The cluster read in progress (one at a time). */
  private reading?: Promise<void>;
  /** The tasks of a sweep that came while a read was in flight: read once more after it. */
  private readAgain?: PeriodicTimer[];

  constructor(
    private readonly time: TimeProvider,
    private readonly logger: LoggerService,
    private readonly units: () => HostedUnit[],
  ) {}

  start(): void {
    this.running = true;
    this.sweep();
  }

  /** A task was added while the host runs: its deadline may be the earliest. */
  wake(): void {
    if (!this.running) return;
    this.timer?.clear();
    this.sweep();
  }

  stop(): void {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    this.readAgain = undefined;
    this.reported.clear();
  }

  /**
   * One pass over the tasks, allocating nothing per task: each local task judged, the exclusive ones
   * gathered for the cluster read, and the next sweep armed (thousands of tasks are swept every second).
   */
  private sweep(): void {
    this.timer = undefined;
    if (!this.running) return;
    const units = this.units();
    if (this.reported.size > 0) {
      const present = new Set(units);
      for (const task of this.reported) if (!present.has(task)) this.reported.delete(task); // removed
    }
    const now = this.time.now();
    let wait = Infinity;
    let clusterWide: PeriodicTimer[] | undefined;
    for (const unit of units) {
      if (!(unit instanceof PeriodicTimer)) continue;
      // Exclusive tasks are judged once the cluster's last successes are read (a failed read keeps the local ones).
      const dueBy = unit.staleDueBy();
      if (unit.clusterWide) (clusterWide ??= []).push(unit);
      else this.judgeOne(unit, now, dueBy);
      if (Number.isNaN(dueBy)) continue;
      wait = Math.min(wait, Math.min(Math.max((dueBy - unit.staleReference()) / 4, MIN_SWEEP_MS), MAX_SWEEP_MS));
      if (now <= dueBy) wait = Math.min(wait, dueBy - now + 1);
    }
    if (clusterWide) this.readCluster(clusterWide);
    if (wait === Infinity) return; // nothing checked now: a task added later wakes the watcher
    this.timer = this.time.setTimeout(
      watchdog(() => this.sweep()),
      Math.max(wait, 1),
    );
  }

  /**
   * Reads the cluster's last successes, one read at a time. A sweep that comes while a read is in
   * flight asks for one more read after it: the in-flight read may have been answered before a
   * success another instance recorded since, and the next sweep may be far off.
   */
  private readCluster(clusterWide: PeriodicTimer[]): void {
    if (this.reading) {
      this.readAgain = clusterWide;
      return;
    }
    this.reading = Promise.all(clusterWide.map((task) => task.refreshClusterSuccess())).then(() => {
      this.reading = undefined;
      if (!this.running) return;
      this.judge(clusterWide);
      const again = this.readAgain;
      this.readAgain = undefined;
      if (again) this.readCluster(again);
    });
  }

  private judge(tasks: PeriodicTimer[]): void {
    const now = this.time.now();
    for (const task of tasks) this.judgeOne(task, now, task.staleDueBy());
  }

  /** Says when `task` (due by `dueBy`: its `staleDueBy()`) became late, or recovered; the full staleness is made only then. */
  private judgeOne(task: PeriodicTimer, now: number, dueBy: number): void {
    const late = now > dueBy; // false when unchecked (NaN)
    if (late === this.reported.has(task)) return;
    const stale = task.staleness(now);
    if (late) {
      this.reported.add(task);
      this.logger.warn(TASK_LATE(task.name, { now, since: stale!.since, succeeded: stale!.succeededAt !== undefined, dueBy: stale!.dueBy, budget: this.budgetText(task) }));
    } else {
      this.reported.delete(task);
      if (stale?.succeededAt !== undefined) this.logger.log(TASK_NO_LONGER_LATE(task.name, stale.succeededAt));
    }
  }

  private budgetText(task: PeriodicTimer): StaleBudgetText {
    const budget = task.staleBudget!;
    return 'afterMs' in budget ? budget : { ...budget, schedule: task.schedule.describe() };
  }
}
