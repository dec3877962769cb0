import type { LoggerService } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { HostingExplorer, DiscoveredWrapper } from '../discovery/hosting.explorer.js';
import { classOf } from '../discovery/hosting.explorer.js';
import { INVALID_ARGUMENT, NOT_A_PROVIDER_METHOD, REMOVE_ABANDONED, UNKNOWN_PROVIDER } from '../hosting.messages.js';
import type { PeriodicSchedule } from '../interfaces/periodic-options.interface.js';
import type { HostedUnit } from '../registry/hosted-unit.js';
import type { HostPhase, RunTimeBackgroundServiceOptions, RunTimePeriodicOptions, RunTimeUnitFactory, TaskHandler } from '../registry/run-time-tasks.js';
import { definePeriodicTask, type PeriodicTaskDefinition } from '../scheduling/periodic-task-definition.js';
import type { TickRunner } from '../scheduling/periodic-timer.js';
import type { TickContext } from '../scheduling/tick-context.js';
import type { ScopeEndHooks } from '../scopes/scope-end-hooks.js';
import { createInvoker, type Around, type Invoker } from '../scopes/scoped-invoker.js';
import type { ServiceKind } from '../interfaces/service-status.interface.js';
import type { TimeProvider } from '../time/time-provider.js';
import { isDuration, OptionsValidator } from '../validation/options-validator.js';
import { validateBackgroundServiceOptions, type ValidBackgroundServiceOptions } from '../validation/background-service-options.validation.js';
import type { HostedBackgroundService } from '../interfaces/background-service-options.interface.js';
import { awaitWithDeadline } from './shutdown-deadline.js';

/** What the host lends the factory. */
export interface RunTimeUnitsHost {
  time: TimeProvider;
  logger: LoggerService;
  explorer: HostingExplorer;
  moduleRef: ModuleRef;
  hooks: ScopeEndHooks;
  shutdownTimeoutMs: number;
  phase(): HostPhase;
  /** Each kind's unit as for a decorated one (exclusive gate, failure policy, switched off by `enabled`). */
  periodicUnit(definition: PeriodicTaskDefinition, run: TickRunner): HostedUnit;
  backgroundUnit(name: string, instance: HostedBackgroundService, valid: ValidBackgroundServiceOptions): HostedUnit;
  delayedUnit(name: string, due: number | Date, run: TickRunner): HostedUnit;
  /** Starts a unit added while the host runs (and holds the process for it). */
  launch(unit: HostedUnit): void;
  /** The interceptor chain around units of `kind` named `name` (undefined when none is registered). */
  around(kind: ServiceKind, name: string): Around | undefined;
}

/** The host's side of `HostingRegistry.addPeriodic`, `addBackgroundService`, `addDelayed` and `remove`. */
export class RunTimeUnits implements RunTimeUnitFactory {
  constructor(private readonly host: RunTimeUnitsHost) {}

  phase(): HostPhase {
    return this.host.phase();
  }

  periodic(where: string, name: string, schedule: PeriodicSchedule, handler: TaskHandler, options: RunTimePeriodicOptions | undefined): HostedUnit {
    if (typeof schedule === 'object' && schedule !== null && 'name' in schedule) refuseName(where, schedule);
    if (isObject(options) && 'name' in options) refuseName(where, options);
    // Not an object: left as it is, for definePeriodicTask's message.
    const extra = options === undefined ? { name } : isObject(options) ? { ...options, name } : options;
    const definition = definePeriodicTask(where, schedule, extra, where);
    return this.host.periodicUnit(definition, this.runner(where, handler, this.host.around('periodic', definition.name)));
  }

  backgroundService(
    where: string,
    name: string,
    execute: (signal: AbortSignal) => Promise<void> | void,
    options: RunTimeBackgroundServiceOptions | undefined,
  ): HostedUnit {
    if (typeof execute !== 'function') throw new TypeError(INVALID_ARGUMENT(where, 'execute', 'a function (signal: AbortSignal) => Promise<void>', execute));
    if (isObject(options) && 'name' in options) refuseName(where, options);
    return this.host.backgroundUnit(name, { execute }, validateBackgroundServiceOptions(name, options, where));
  }

  delayed(where: string, name: string, due: number | Date, handler: TaskHandler): HostedUnit {
    const valid = due instanceof Date ? Number.isFinite(due.getTime()) : isDuration(due);
    if (!valid) throw new TypeError(INVALID_ARGUMENT(where, 'delay', 'a number of milliseconds from 0 to 100 years, or a valid Date', due));
    return this.host.delayedUnit(name, due, this.runner(where, handler, this.host.around('periodic', name)));
  }

  launch(unit: HostedUnit): void {
    this.host.launch(unit);
  }

  async stop(unit: HostedUnit, reason: string): Promise<void> {
    const deadline = new AbortController();
    const settled = unit.stop({ reason, deadline: deadline.signal });
    if (settled) {
      const abandoned = await awaitWithDeadline([{ name: unit.name, settled }], this.host.shutdownTimeoutMs);
      if (abandoned.length) this.host.logger.warn(REMOVE_ABANDONED(unit.name, this.host.shutdownTimeoutMs));
    }
    deadline.abort();
  }

  /** What one run calls: the function, or the provider's method through the invoker (a scope per run when not static). */
  private runner(where: string, handler: TaskHandler, around: Around | undefined): TickRunner {
    if (typeof handler === 'function') return around ? (context) => around(context, undefined, undefined, () => handler(context)) : (context) => handler(context);
    const check = OptionsValidator.for(`${where}: handler`, handler, ['provider', 'method']);
    const { provider, method } = handler;
    if (typeof provider !== 'function') check.fail('provider', 'a provider class', provider);
    const wrapper = this.findWrapper(provider);
    if (!wrapper) throw new TypeError(UNKNOWN_PROVIDER(where, provider));
    const prototype = (provider as { prototype?: Record<string, unknown> }).prototype;
    if (typeof method !== 'string' || typeof prototype?.[method] !== 'function') throw new TypeError(NOT_A_PROVIDER_METHOD(where, provider.name, method));
    // The invoker is made at the first run: a static provider's instance exists only once the app is built.
    let invoke: Invoker | undefined;
    return (context: TickContext) => {
      invoke ??= createInvoker(wrapper, this.host.moduleRef, this.host.hooks, around);
      return invoke(context, method, context);
    };
  }

  /** The provider registered under the class itself (its token), else the first whose class it is. */
  private findWrapper(provider: unknown): DiscoveredWrapper | undefined {
    const wrappers = this.host.explorer.wrappers();
    return wrappers.find((w) => w.token === provider) ?? wrappers.find((w) => classOf(w) === provider);
  }
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuseName(where: string, options: object): never {
  return OptionsValidator.for(where, {}, []).fail('name', 'unset (the name is the first argument)', (options as { name?: unknown }).name);
}
