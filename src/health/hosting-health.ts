import type { ServiceStatus } from '../interfaces/service-status.interface.js';

/** Options of `HostingHealthIndicator.isHealthy`. */
export interface HostingHealthOptions {
  /**
   * A periodic task is down once its next run is late by more than this many periods (a run that
   * hangs, or a tick that never came). Counted from the slot after the running one while it runs.
   * @default 3
   */
  overduePeriods?: number;
  /** Names of hosted units left out of the check. @default [] */
  ignore?: string[];
}

/** A periodic task whose run is late. */
export interface OverdueTask {
  name: string;
  /** How late the task's next run is, in milliseconds. */
  overdueMs: number;
  /** The task's period in milliseconds (the gap between two cron slots for a cron task). */
  periodMs: number;
}

/** What `assessHosting` found wrong; healthy when both lists are empty. */
export interface HostingAssessment {
  faulted: string[];
  overdue: OverdueTask[];
}

export const DEFAULT_OVERDUE_PERIODS = 3;

/** Judges the registry's snapshot: faulted units, and periodic tasks late by more than `overduePeriods`. */
export function assessHosting(statuses: ServiceStatus[], options: HostingHealthOptions = {}, now = Date.now()): HostingAssessment {
  const overduePeriods = options.overduePeriods ?? DEFAULT_OVERDUE_PERIODS;
  const ignored = new Set(options.ignore ?? []);
  const assessment: HostingAssessment = { faulted: [], overdue: [] };
  for (const status of statuses) {
    if (ignored.has(status.name)) continue;
    if (status.state === 'faulted') assessment.faulted.push(status.name);
    if (status.kind !== 'periodic') continue;
    const overdue = overdueBy(status, now);
    if (overdue && overdue.overdueMs > overduePeriods * overdue.periodMs) assessment.overdue.push({ name: status.name, ...overdue });
  }
  return assessment;
}

/** How late a periodic task's next run is (undefined while paused, stopped, or without a known period). */
function overdueBy(status: ServiceStatus, now: number): { overdueMs: number; periodMs: number } | undefined {
  if (status.paused) return undefined;
  const { periodMs } = status;
  if (!periodMs) return undefined;
  let dueAt: number | undefined;
  if (status.state === 'idle' && status.nextRunAt) dueAt = status.nextRunAt.getTime();
  // While a run goes on, the next slot is one period after it started: a hung run becomes overdue.
  else if (status.state === 'running' && status.lastStartedAt) dueAt = status.lastStartedAt.getTime() + periodMs;
  return dueAt === undefined ? undefined : { overdueMs: Math.max(0, now - dueAt), periodMs };
}

/** Options of `HostingHealthIndicator.isReady`. */
export interface HostingReadinessOptions {
  /** Names of hosted units whose connections (and, with `criticalTasks: 'all'`, lateness) do not count for readiness. @default [] */
  ignore?: string[];
  /**
   * Periodic tasks whose missed-run alert takes the instance out of rotation: readiness is down
   * while one of them is `late` (see `PeriodicTaskOptions.staleAfterMs`). `'all'`: every periodic
   * task (but those in `ignore`). Late tasks are listed in the details either way.
   * @default none
   */
  criticalTasks?: 'all' | string[];
}

/** A periodic task past its missed-run deadline (`ServiceStatus.late`). */
export interface LateTask {
  name: string;
  /** When its last successful run finished (ISO 8601); unset when it never succeeded. */
  lastSucceededAt?: string;
  /** When it should have succeeded again by (ISO 8601). */
  dueBy: string;
}

/** The periodic tasks that are late, in the registry's order. */
export function lateTasks(statuses: ServiceStatus[]): LateTask[] {
  const late: LateTask[] = [];
  for (const status of statuses) {
    if (status.kind !== 'periodic' || status.late !== true || !status.dueBy) continue;
    late.push({ name: status.name, ...(status.lastSucceededAt && { lastSucceededAt: status.lastSucceededAt.toISOString() }), dueBy: status.dueBy.toISOString() });
  }
  return late;
}

/** The late tasks that readiness counts: those named in `criticalTasks`, or all (but `ignore`d ones) for `'all'`. */
export function criticalLateTasks(late: LateTask[], options: HostingReadinessOptions = {}): LateTask[] {
  const { criticalTasks } = options;
  if (criticalTasks === undefined) return [];
  if (criticalTasks === 'all') {
    const ignored = new Set(options.ignore ?? []);
    return late.filter((task) => !ignored.has(task.name));
  }
  const critical = new Set(criticalTasks);
  return late.filter((task) => critical.has(task.name));
}

/** A connection of a hosted unit that is down (a BullMQ queue's producer or worker, the Redis of exclusive tasks). */
export interface DownConnection {
  /** The hosted unit: a queue's or a periodic task's name. */
  service: string;
  /** The connection: `producer`, `worker`, `redis`. */
  connection: string;
  /** When it went down (ISO 8601). */
  since: string;
  /** Why, when known. */
  error?: string;
}

/** The connections that are down, unit by unit, in the registry's order. */
export function downConnections(statuses: ServiceStatus[], options: HostingReadinessOptions = {}): DownConnection[] {
  const ignored = new Set(options.ignore ?? []);
  const down: DownConnection[] = [];
  for (const status of statuses) {
    if (ignored.has(status.name)) continue;
    for (const connection of status.connections ?? []) {
      if (connection.state !== 'down') continue;
      down.push({
        service: status.name,
        connection: connection.name,
        since: connection.since.toISOString(),
        ...(connection.lastError !== undefined && { error: connection.lastError }),
      });
    }
  }
  return down;
}
