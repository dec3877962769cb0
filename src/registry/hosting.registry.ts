import { Injectable } from '@nestjs/common';
import { ServiceKindError } from '../errors/service-kind.error.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import { DUPLICATE_NAME } from '../hosting.messages.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostedUnit } from './hosted-unit.js';
import { OneCopy } from '../one-copy.js';

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
  private readonly entries = new Map<string, { unit: HostedUnit; owner: string }>();

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

  /** @internal */
  register(unit: HostedUnit, owner: string): void {
    const existing = this.entries.get(unit.name);
    if (existing) throw new Error(DUPLICATE_NAME(unit.name, existing.owner, owner));
    this.entries.set(unit.name, { unit, owner });
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

  private pausable(method: string, name: string): HostedUnit {
    const unit = this.find(method, name);
    if (!unit.pause || !unit.resume) throw new ServiceKindError(method, name, unit.kind, 'periodic and queue');
    return unit;
  }
}
