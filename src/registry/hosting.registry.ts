import { Injectable } from '@nestjs/common';
import { ServiceKindError } from '../errors/service-kind.error.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import { ServiceStateError } from '../errors/service-state.error.js';
import { ADD_WHILE_STOPPING, DUPLICATE_NAME, INVALID_ARGUMENT, NO_HOST, RUN_TIME_OWNER, UNIT_REMOVED } from '../hosting.messages.js';
import type { PeriodicSchedule } from '../interfaces/periodic-options.interface.js';
import type { CancelResult, DeadLetterPage, QueueEvent, QueueEventName } from '../interfaces/queue-options.interface.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import { isQueueUnit, type HostedUnit, type QueueUnit } from './hosted-unit.js';
import { OptionsValidator } from '../validation/options-validator.js';
import { parseQueueEvents } from '../validation/queue-events.validation.js';
import type { RunTimeBackgroundServiceOptions, RunTimePeriodicOptions, RunTimeUnitFactory, TaskHandler } from './run-time-tasks.js';
import { OneCopy } from '../one-copy.js';

const DEAD_LETTER_PAGING = ['offset', 'limit'] as const;
const DEFAULT_DEAD_LETTER_PAGE = 50;
const MAX_DEAD_LETTER_PAGE = 1000;

/**
 * The public handle on everything the host runs (as `SchedulerRegistry` is for @nestjs/schedule).
 *
 * @example
 * ```ts
 * this.registry.list().filter((s) => s.state === 'faulted');
 * await this.registry.trigger('CleanupJob.purge');
 * this.registry.restart('OutboxPump'); // a faulted background service
 * ```
 */
@OneCopy('HostingRegistry')
@Injectable()
export class HostingRegistry {
  private readonly entries = new Map<string, { unit: HostedUnit; owner: string; removing?: Promise<void> }>();
  /** @internal Bumped when a unit is registered or removed (the late-task watcher re-reads `units()` then). */
  unitsVersion = 0;
  private factory?: RunTimeUnitFactory;

  /** The status of every background service, periodic task and queue, in registration order. */
  list(): ServiceStatus[] {
    return [...this.entries.values()].map(({ unit }) => unit.status());
  }

  /** The status of one hosted unit, or undefined when no unit has that name. */
  get(name: string): ServiceStatus | undefined {
    return this.entries.get(name)?.unit.status();
  }

  /**
   * Runs a periodic task now and resolves when that run has finished (its outcome is in its
   * status). While a run is going, one follow-up run is queued instead: runs never overlap.
   * Rejects with `UnknownServiceError` (a 404) or `ServiceKindError` (a 409); never throws.
   */
  trigger(name: string): Promise<void> {
    try {
      return this.periodic('trigger', name).trigger!();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stops arming a periodic task's ticks (or a queue's deliveries); a running one finishes.
   * Throws `UnknownServiceError` (a 404) or `ServiceKindError` (a 409).
   */
  pause(name: string): void {
    this.pausable('pause', name).pause!();
  }

  /** Undoes `pause`: the task's next tick is the next slot of its schedule. Throws as `pause` does. */
  resume(name: string): void {
    this.pausable('resume', name).resume!();
  }

  /**
   * Starts a faulted background service again: `execute` is called on a later turn of the event
   * loop with the host's signal, as at start-up, and its restart policy starts over (the full
   * `maxRestarts` budget, the first delay `initialDelayMs`). Logged, and counted in its `runs`.
   * Throws `UnknownServiceError` (a 404), `ServiceKindError` (a 409) for a periodic task or a
   * queue, and `ServiceStateError` (a 409) for a service that is not faulted (running, stopped, or
   * waiting for its restart policy to restart it) or once the host is stopping.
   */
  restart(name: string): void {
    const unit = this.find('restart', name);
    if (!unit.restart) throw new ServiceKindError('restart', name, unit.kind, 'background');
    unit.restart();
  }

  /**
   * Resolves once the host has no work in progress: no tick running, no item queued or in flight
   * on a memory queue, no background service about to start; checked again a turn of the event
   * loop later, so that work started by work that just finished counts too. Not work in progress:
   * timers waiting (the next slot, a retry's or a restart's backoff: advance a `VirtualTime` for
   * those), a background service's long-running `execute`, a paused queue or one without a worker
   * here, and BullMQ queues (their items are in Redis: `WorkQueue.drain()` waits for them).
   */
  async whenIdle(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const busy = this.busyWork();
      if (busy === undefined) quiet++;
      else {
        await busy;
        quiet = 0;
      }
    }
  }

  /** @internal Work in progress now, or undefined (one look, for `whenIdle` and virtual time). */
  busyWork(): Promise<unknown> | undefined {
    let busy: Array<Promise<unknown>> | undefined;
    for (const { unit } of this.entries.values()) {
      const work = unit.busyWork?.();
      if (work !== undefined) (busy ??= []).push(work);
    }
    return busy && Promise.all(busy);
  }

  /**
   * Adds a periodic task at run time, as `@Periodic(schedule, options)` declares one: the same
   * schedules (a period in ms, `{ every }`, `{ cron, timeZone, repeatedTime }`), options, validation,
   * status, health, dashboard row, `trigger`/`pause`/`resume` and shutdown. `handler` is a function
   * of the run's `TickContext`, or `{ provider, method }`: a provider's method, resolved per run in a
   * DI scope of its own when the provider is request-scoped. Added before the host started, it
   * starts with the others; while the host runs, at once. Throws a `TypeError` for bad input (naming
   * `HostingRegistry.addPeriodic("<name>")`, the option and the value), an `Error` for a name in
   * use, and `ServiceStateError` (a 409) once the host is stopping.
   *
   * @example
   * ```ts
   * this.registry.addPeriodic(`report:${tenant.id}`, { cron: '0 0 6 * * *', timeZone: tenant.zone }, { provider: ReportJob, method: 'run' });
   * ```
   */
  addPeriodic<T extends object>(name: string, schedule: PeriodicSchedule, handler: TaskHandler<T>, options?: RunTimePeriodicOptions): void {
    this.add('addPeriodic', name, (factory, where) => factory.periodic(where, name, schedule, handler as TaskHandler, options));
  }

  /**
   * Adds a background service at run time, as `@BackgroundService(options)` declares one: `execute`
   * is called once on a later turn of the event loop with the host's signal (on start, or at once
   * when the host runs), and `onError` / `restart` apply as to a decorated service. Throws as `addPeriodic`.
   */
  addBackgroundService(name: string, execute: (signal: AbortSignal) => Promise<void> | void, options?: RunTimeBackgroundServiceOptions): void {
    this.add('addBackgroundService', name, (factory, where) => factory.backgroundService(where, name, execute, options));
  }

  /**
   * Adds a one-shot task: `handler` runs once, `delay` milliseconds after the host started (after
   * this call when the host already runs), or at a `Date` (one already past runs at once). It is
   * listed as a periodic task (`schedule` `once after <ms> ms` or `once at <ISO date>`, `nextRunAt`
   * while it waits) and stays listed, `stopped`, after its run until `remove`. `trigger` runs it
   * now as an extra run; `pause` holds it (resumed after its time, it runs at once). Throws as `addPeriodic`.
   */
  addDelayed<T extends object>(name: string, delay: number | Date, handler: TaskHandler<T>): void {
    this.add('addDelayed', name, (factory, where) => factory.delayed(where, name, delay, handler as TaskHandler));
  }

  /**
   * Stops a periodic task or background service (decorated or added at run time) and unregisters
   * it: no new run starts, the running one's signal aborts, and the promise resolves once it has
   * settled, or once the host's shutdown budget (`shutdownTimeoutMs`) has passed (then the run is
   * abandoned and a warning logged). The name is free again afterwards. Rejects with
   * `UnknownServiceError` (a 404) or, for a queue, `ServiceKindError` (a 409); never throws.
   */
  remove(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return Promise.reject(new UnknownServiceError('remove', name, [...this.entries.keys()]));
    const { unit } = entry;
    if (unit.kind === 'queue') return Promise.reject(new ServiceKindError('remove', name, unit.kind, 'periodic and background'));
    if (!this.factory) return Promise.reject(new Error(NO_HOST('remove')));
    entry.removing ??= this.factory.stop(unit, UNIT_REMOVED(name)).then(() => {
      if (this.entries.get(name) !== entry) return;
      this.entries.delete(name);
      this.unitsVersion++;
    });
    return entry.removing;
  }

  /**
   * A page of a queue's dead letters (items that failed their last attempt), newest first, with the
   * count kept in all: `offset` (default 0) and `limit` (default 50, at most 1000). Rejects with a
   * TypeError for bad paging, `UnknownServiceError` (a 404) or `ServiceKindError` (a 409, not a queue).
   *
   * @example
   * ```ts
   * const { total, items } = await this.registry.deadLetters<EmailJob>('emails', { limit: 20 });
   * ```
   */
  deadLetters<T = unknown>(queue: string, options?: { offset?: number; limit?: number }): Promise<DeadLetterPage<T>> {
    try {
      const check = OptionsValidator.for(`HostingRegistry.deadLetters(${JSON.stringify(queue)})`, options, DEAD_LETTER_PAGING);
      const offset = check.check<number>('offset', (v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer from 0') ?? 0;
      const limit =
        check.check<number>('limit', (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_DEAD_LETTER_PAGE, `an integer from 1 to ${MAX_DEAD_LETTER_PAGE}`) ??
        DEFAULT_DEAD_LETTER_PAGE;
      return this.queue('deadLetters', queue).deadLetters(offset, limit) as Promise<DeadLetterPage<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Puts a queue's dead letter `id` back in the queue (every one when `id` is not given): same id,
   * data and headers, its tries counted from 1 again. Resolves with how many (0 for an unknown id).
   * Rejects as `deadLetters` does, and with a TypeError for an id that is not a non-empty string.
   */
  redrive(queue: string, id?: string): Promise<number> {
    try {
      return this.queue('redrive', queue).redrive(this.itemId('redrive', id, false));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes a queue's dead letter `id` (every one when `id` is not given); resolves with how many. Rejects as `redrive`. */
  discard(queue: string, id?: string): Promise<number> {
    try {
      return this.queue('discard', queue).discard(this.itemId('discard', id, false));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Cancels a queue's item `id`, as `WorkQueue.cancel` does: `'removed'` (it waited), `'aborted'`
   * (it runs: its signal aborted) or `'not-found'`. Rejects as `redrive`.
   */
  cancel(queue: string, id: string): Promise<CancelResult> {
    try {
      return this.queue('cancel', queue).cancel(this.itemId('cancel', id, true)!);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Calls `listener` with a queue's events (`'completed'`, `'failed'`, `'deadLettered'`,
   * `'stalled'`, `'drained'`; an array of them, or `'*'` for every one) until the returned function
   * is called: on the memory backend this process's, on BullMQ the whole cluster's (its
   * QueueEvents). A listener may be async (it is not awaited); one that throws or rejects is logged,
   * and the queue goes on. Throws a TypeError for a bad event name (with the closest one) or
   * listener, `UnknownServiceError` (a 404) or `ServiceKindError` (a 409).
   *
   * @example
   * ```ts
   * const stop = this.registry.onQueueEvent('emails', 'deadLettered', (e) => this.alerts.raise(`${e.id}: ${e.error}`));
   * ```
   */
  onQueueEvent(queue: string, event: QueueEventName | QueueEventName[] | '*', listener: (event: QueueEvent) => unknown): () => void {
    const where = `HostingRegistry.onQueueEvent(${JSON.stringify(queue)})`;
    const events = parseQueueEvents(where, event, true);
    if (typeof listener !== 'function') throw new TypeError(INVALID_ARGUMENT(where, 'listener', 'a function', listener));
    return this.queue('onQueueEvent', queue).subscribe(events, listener, `${where}'s listener ${listener.name || '(anonymous)'}`);
  }

  /** @internal The host: how units added at run time are built, started and stopped. */
  setRunTimeUnitFactory(factory: RunTimeUnitFactory): void {
    this.factory = factory;
  }

  private add(method: string, name: string, build: (factory: RunTimeUnitFactory, where: string) => HostedUnit): void {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(INVALID_ARGUMENT(`HostingRegistry.${method}`, 'name', 'a non-empty string', name));
    const factory = this.factory;
    if (!factory) throw new Error(NO_HOST(method));
    const phase = factory.phase();
    if (phase === 'stopping') throw new ServiceStateError(method, name, 'stopped', ADD_WHILE_STOPPING(method, name));
    const owner = RUN_TIME_OWNER(method, name);
    const existing = this.entries.get(name);
    if (existing) throw new Error(DUPLICATE_NAME(name, existing.owner, owner));
    const unit = build(factory, owner);
    this.register(unit, owner);
    if (phase === 'running') factory.launch(unit);
  }

  /** @internal */
  register(unit: HostedUnit, owner: string): void {
    const existing = this.entries.get(unit.name);
    if (existing) throw new Error(DUPLICATE_NAME(unit.name, existing.owner, owner));
    this.entries.set(unit.name, { unit, owner });
    this.unitsVersion++;
  }

  /** @internal */
  units(): HostedUnit[] {
    return [...this.entries.values()].map((e) => e.unit);
  }

  private find(method: string, name: string): HostedUnit {
    const entry = this.entries.get(name);
    if (!entry) throw new UnknownServiceError(method, name, [...this.entries.keys()]);
    return entry.unit;
  }

  private periodic(method: string, name: string): HostedUnit {
    const unit = this.find(method, name);
    if (!unit.trigger) throw new ServiceKindError(method, name, unit.kind, 'periodic');
    return unit;
  }

  private queue(method: string, name: string): QueueUnit {
    const unit = this.find(method, name);
    if (!isQueueUnit(unit)) throw new ServiceKindError(method, name, unit.kind, 'queue');
    return unit;
  }

  /** An item id argument: a non-empty string (or, unless `required`, none). */
  private itemId(method: string, id: unknown, required: boolean): string | undefined {
    if ((id === undefined && !required) || (typeof id === 'string' && id.length > 0)) return id as string | undefined;
    throw new TypeError(INVALID_ARGUMENT(`HostingRegistry.${method}`, 'id', required ? 'a non-empty string' : 'a non-empty string, or undefined for every one', id));
  }

  private pausable(method: string, name: string): HostedUnit {
    const unit = this.find(method, name);
    if (!unit.pause || !unit.resume) throw new ServiceKindError(method, name, unit.kind, 'periodic and queue');
    return unit;
  }
}
