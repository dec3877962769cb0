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

/** Where the watcher reads the host's units, and a number that changes when they do. */
export interface WatchedUnits {
  units(): HostedUnit[];
  readonly unitsVersion: number;
}

/**
 * Missed-run alerts for the whole host: one timer on the host's clock that sweeps every periodic
 * task, logs one warning when a task becomes late and one line when it succeeds again. Nothing on
 * a tick's path but one write: a task's `late` in its status is computed when it is read; this only says it.
 *
 * It wakes at the earliest deadline of the tasks not yet late, and at least every quarter of the
 * smallest budget (1 s to 60 s), when exclusive tasks also read the cluster's last success from
 * Redis. Its timer is a watchdog: a virtual clock does not take it for work waiting on time.
 *
 * Thousands of tasks are swept every second, so a sweep reads a board, not the tasks: each checked
 * task has a place in a `Float64Array` that holds a time before which it cannot be late (its
 * deadline, written by the task after each run when it is a fixed offset from its last success;
 * else the deadline the last full look found). Only the tasks whose time has come, the ones
 * reported late, and the exclusive ones (their deadline moves with other instances' successes)
 * are looked at in full.
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
  /** The local tasks with a budget, each with its place on the boards. */
  private tasks: PeriodicTimer[] = [];
  /** Per task: no need to look before this (epoch ms; NaN: look at the next sweep). */
  private checkAt = new Float64Array(0);
  /** Per task: a quarter of its budget (1 s to 60 s), as its last full look found it. */
  private quarters = new Float64Array(0);
  /** The exclusive tasks with a budget: looked at in full, after the cluster read. */
  private clusterWide: PeriodicTimer[] = [];
  private unitsVersion = Number.NaN;

  constructor(
    private readonly time: TimeProvider,
    private readonly logger: LoggerService,
    private readonly units: WatchedUnits,
  ) {}

  start(): void {
    this.running = true;
    this.sweep();
  }

  /** A task was added (or started) while the host runs: its deadline may be the earliest. */
  wake(): void {
    if (!this.running) return;
    this.timer?.clear();
    this.unitsVersion = Number.NaN; // look at every task again
    this.sweep();
  }

  stop(): void {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    this.readAgain = undefined;
    this.reported.clear();
    for (const task of this.tasks) task.detachStaleBoard();
    this.tasks = [];
    this.clusterWide = [];
    this.unitsVersion = Number.NaN;
  }

  /** Builds the boards again when units were added or removed (every task is looked at in full at the next sweep). */
  private refresh(): void {
    if (this.units.unitsVersion === this.unitsVersion) return;
    this.unitsVersion = this.units.unitsVersion;
    for (const task of this.tasks) task.detachStaleBoard();
    const units = this.units.units();
    const present = new Set(units);
    for (const task of this.reported) if (!present.has(task)) this.reported.delete(task); // removed
    const tasks: PeriodicTimer[] = [];
    const clusterWide: PeriodicTimer[] = [];
    for (const unit of units) {
      if (!(unit instanceof PeriodicTimer) || !unit.staleBudget) continue;
      (unit.clusterWide ? clusterWide : tasks).push(unit);
    }
    const checkAt = new Float64Array(tasks.length);
    this.quarters = new Float64Array(tasks.length).fill(MAX_SWEEP_MS);
    tasks.forEach((task, index) => {
      // What the task knows without computing its deadline (a cron deadline costs the cron package's
      // search, twice: a thousand cron tasks took over a second at start-up); else NaN, a full look.
      checkAt[index] = task.staleLowerBound();
      task.attachStaleBoard(checkAt, index);
    });
    this.checkAt = checkAt;
    this.tasks = tasks;
    this.clusterWide = clusterWide;
  }

  /**
   * One sweep: the local tasks whose board time has come judged, the late ones looked at again, the
   * exclusive ones gathered for the cluster read, and the next sweep armed.
   */
  private sweep(): void {
    this.timer = undefined;
    if (!this.running) return;
    this.refresh();
    const now = this.time.now();
    const { checkAt, quarters, tasks } = this;
    let wait = Infinity;
    for (let i = 0; i < checkAt.length; i++) {
      const at = checkAt[i]!;
      if (at > now) {
        // Not late before `at`: the board says so without a look at the task.
        wait = Math.min(wait, quarters[i]!, at - now + 1);
        continue;
      }
      const task = tasks[i]!;
      const dueBy = task.staleDueBy();
      checkAt[i] = dueBy; // NaN (not checked now: stopped, not started) is looked at again next time
      this.judgeOne(task, now, dueBy);
      if (Number.isNaN(dueBy)) continue;
      quarters[i] = quarterOf(dueBy - task.staleReference());
      wait = Math.min(wait, quarters[i]!);
      if (now <= dueBy) wait = Math.min(wait, dueBy - now + 1);
    }
    // A task reported late may have succeeded since (its board time moved on): see it recover.
    for (const task of this.reported) {
      if (task.clusterWide) continue;
      const dueBy = task.staleDueBy();
      this.judgeOne(task, now, dueBy);
      if (!Number.isNaN(dueBy)) wait = Math.min(wait, quarterOf(dueBy - task.staleReference()));
    }
    // Exclusive tasks are judged once the cluster's last successes are read (a failed read keeps the local ones).
    const clusterWide = this.clusterWide.filter((task) => {
      const dueBy = task.staleDueBy();
      if (Number.isNaN(dueBy)) return false;
      wait = Math.min(wait, quarterOf(dueBy - task.staleReference()));
      if (now <= dueBy) wait = Math.min(wait, dueBy - now + 1);
      return true;
    });
    if (clusterWide.length > 0) this.readCluster(clusterWide);
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

/** How often a task with this budget is looked at, at least: a quarter of it, 1 s to 60 s. */
function quarterOf(budgetMs: number): number {
  return Math.min(Math.max(budgetMs / 4, MIN_SWEEP_MS), MAX_SWEEP_MS);
}
