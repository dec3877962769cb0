import type { LoggerService } from '@nestjs/common';
import type { Schedule } from '../scheduling/schedule.js';
import type { TickContext } from '../scheduling/tick-context.js';
import type { OutageMessages } from './connection-monitor.js';
import type { ExclusiveTickGate } from './exclusive-tick-gate.js';
import { OutageReporter } from './outage-reporter.js';
import { EXCLUSIVE_CLAIMS_WORK_AGAIN } from './postgres.messages.js';
import { EXCLUSIVE_TASK, EXCLUSIVE_TICK_SKIPPED, REDIS_RECOVERED } from './redis.messages.js';
import type { StoreName } from './store-name.js';

/**
 * What an exclusive tick resolves with when it did not run on this instance (another instance has
 * it, or its store is unreachable). A registered symbol, so the timer can recognise it without importing this file.
 */
export const SKIPPED_TICK: unique symbol = Symbol.for('nest-hosting:skipped-tick') as never;

/** Slot keys live at least this long, so an instance whose clock lags by less never runs a slot twice. */
export const MIN_SLOT_TTL_MS = 60_000;
/** Bounds of a run lease: at least this long, so event-loop stalls do not let it lapse mid-run… */
export const MIN_LEASE_MS = 2_000;
/** …and at most this long, the longest an exclusive task waits after its holder crashed. */
export const MAX_LEASE_MS = 60_000;

/** The shortest time the last run slot of a task is kept (a cluster down longer starts afresh). */
export const MIN_LAST_RUN_TTL_MS = 30 * 24 * 3_600_000;

/**
 * An exclusive task's lines while its gate's store is away: its ticks are skipped (said once per
 * outage), and back (`Redis is reachable again after N ms`; `ticks are claimed on PostgreSQL again
 * after N ms`). Other errors of a claim are logged at a bounded rate (`<task>: Redis error: …`).
 */
const TASK_OUTAGE: Record<StoreName, OutageMessages> = {
  Redis: { unreachable: (subject, error) => EXCLUSIVE_TICK_SKIPPED(subject, error, 'Redis'), recovered: REDIS_RECOVERED },
  PostgreSQL: { unreachable: (subject, error) => EXCLUSIVE_TICK_SKIPPED(subject, error, 'PostgreSQL'), recovered: EXCLUSIVE_CLAIMS_WORK_AGAIN },
};

/** The exclusive task as the wrapper needs it. */
export interface ExclusiveTask {
  name: string;
  /** The task's schedule: fixed-rate grids must be anchored at epoch 0, so that instances agree on slots. */
  schedule: Schedule;
  jitterMs: number;
  /** A catch-up's window (`onMissed: { windowMs }`): the last run slot is kept at least that much longer. */
  catchUpWindowMs?: number;
  /** The host's wall clock: a successful run's finish is recorded as the task's last success across instances. */
  now?: () => number;
}

/** How long the last run slot of a task is kept: 30 days or two periods, plus the catch-up window. */
export function lastRunTtlMs(task: ExclusiveTask): number {
  return Math.max(MIN_LAST_RUN_TTL_MS, 2 * (task.schedule.periodMs ?? 0)) + (task.catchUpWindowMs ?? 0);
}

/** The TTL of a slot key and of a run lease, from the task's period. */
export function exclusiveTimings(task: ExclusiveTask): { slotTtlMs: number; leaseMs: number } {
  const periodMs = task.schedule.periodMs ?? MIN_SLOT_TTL_MS;
  return {
    slotTtlMs: Math.max(periodMs, MIN_SLOT_TTL_MS) + task.jitterMs,
    leaseMs: Math.min(Math.max(periodMs, MIN_LEASE_MS), MAX_LEASE_MS),
  };
}

/**
 * The key a tick is claimed under. Scheduled ticks sit on the shared grid already; a `runOnStart`
 * tick (scheduled at this instance's start time) is claimed as the grid slot before it, so
 * replicas that start together run it once, and a replica that restarts within a period does not
 * run it again.
 */
export function claimKey(task: ExclusiveTask, context: TickContext): string {
  return `${task.name}@${new Date(claimSlot(task, context)).toISOString()}`;
}

/** The slot a tick is claimed as (see `claimKey`), in epoch ms. */
function claimSlot(task: ExclusiveTask, context: TickContext): number {
  const at = context.scheduledAt.getTime();
  const periodMs = task.schedule.periodMs;
  // A slot on the grid (a first tick that catches up a missed slot too) is claimed as itself.
  if (periodMs === undefined || context.tick !== 1 || task.schedule.next(at - 1) === at) return at;
  const previous = task.schedule.next(at - periodMs);
  return previous > at ? at : previous;
}

/**
 * Wraps the runner of an exclusive task: each scheduled tick runs only on the instance that claims
 * it through `gate`; elsewhere it resolves with `SKIPPED_TICK`. When the gate's store (`gate.store`)
 * is unreachable the tick is skipped and the outage logged once per task, in the store's words: an
 * exclusive task never runs unguarded on every instance.
 * A `HostingRegistry.trigger` call is an explicit local request and runs here without a claim.
 */
export function exclusiveTickRunner<R>(
  task: ExclusiveTask,
  gate: ExclusiveTickGate,
  run: (context: TickContext) => Promise<R> | R,
  logger: LoggerService,
): (context: TickContext) => Promise<R | typeof SKIPPED_TICK> {
  const outage = new OutageReporter(logger, EXCLUSIVE_TASK(task.name), gate.store, TASK_OUTAGE[gate.store]);
  const timings = { ...exclusiveTimings(task), lastRunTtlMs: lastRunTtlMs(task) };
  return async (context) => {
    if (context.triggered) {
      const result = await run(context);
      if (task.now && gate.recordSuccess) await gate.recordSuccess(task.name, task.now(), timings.lastRunTtlMs);
      return result;
    }
    let lease;
    try {
      const slotAt = claimSlot(task, context);
      const slotKey = `${task.name}@${new Date(slotAt).toISOString()}`;
      lease = await gate.tryAcquire({ task: task.name, slotKey, slotAt, ...timings });
      outage.recovered();
    } catch (error) {
      outage.error(error);
      return SKIPPED_TICK;
    }
    if (!lease) return SKIPPED_TICK;
    let succeededAt: number | undefined;
    try {
      const result = await run(context);
      succeededAt = task.now?.();
      return result;
    } finally {
      await lease.release(succeededAt);
    }
  };
}
