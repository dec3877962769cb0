import type { Type } from '@nestjs/common';
import type { BackgroundServiceOptions } from '../interfaces/background-service-options.interface.js';
import type { PeriodicSchedule, PeriodicTaskOptions } from '../interfaces/periodic-options.interface.js';
// A type only (erased at run time): the context a handler receives is made by scheduling/.
import type { TickContext } from '../scheduling/tick-context.js';
import type { HostedUnit } from './hosted-unit.js';

/** The names of `T`'s methods. */
export type MethodName<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T] & string;

/**
 * A provider's method as the work of a task added at run time: each run resolves `provider` as a
 * decorated task's class is (a request-scoped provider, or one depending on one, gets a fresh
 * instance in a DI scope of its own per run, whose `REQUEST` is the run's `TickContext`) and calls
 * `method(context)`.
 */
export interface ProviderMethod<T extends object = object> {
  /** A class registered as a provider (or controller) in the app. */
  provider: Type<T>;
  /** The method to call with the run's `TickContext`. */
  method: MethodName<T>;
}

/** The work of a task added at run time: a function, or a provider's method (scoped per run). */
export type TaskHandler<T extends object = object> = ((context: TickContext) => unknown) | ProviderMethod<T>;

/** Options of `HostingRegistry.addPeriodic`: `@Periodic`'s, without `name` (the first argument). */
export type RunTimePeriodicOptions = Omit<PeriodicTaskOptions, 'name'>;

/** Options of `HostingRegistry.addBackgroundService`: `@BackgroundService`'s, without `name` (the first argument). */
export type RunTimeBackgroundServiceOptions = Omit<BackgroundServiceOptions, 'name'>;

/** Where the host is, for units added at run time. */
export type HostPhase = 'starting' | 'running' | 'stopping';

/**
 * @internal What the host hands the registry so that it can build and run units added at run time
 * (set by `HostingHost` when it is made): validation, the host's clock, DI scopes and the shutdown budget.
 */
export interface RunTimeUnitFactory {
  /** `starting`: added units start with the others; `running`: they start at once; `stopping`: refused. */
  phase(): HostPhase;
  periodic(where: string, name: string, schedule: PeriodicSchedule, handler: TaskHandler, options: RunTimePeriodicOptions | undefined): HostedUnit;
  backgroundService(
    where: string,
    name: string,
    execute: (signal: AbortSignal) => Promise<void> | void,
    options: RunTimeBackgroundServiceOptions | undefined,
  ): HostedUnit;
  delayed(where: string, name: string, due: number | Date, handler: TaskHandler): HostedUnit;
  /** Starts a unit added while the host runs. */
  launch(unit: HostedUnit): void;
  /** Stops a unit and waits for it within the host's shutdown budget (`shutdownTimeoutMs`); never rejects. */
  stop(unit: HostedUnit, reason: string): Promise<void>;
}
