import { PERIODIC_METADATA } from '../hosting.constants.js';
import { NOT_A_METHOD } from '../hosting.messages.js';
import { definePeriodicTask } from '../scheduling/periodic-task-definition.js';
import type { PeriodicSchedule, PeriodicTaskOptions } from '../interfaces/periodic-options.interface.js';
import type { TickContext } from '../scheduling/tick-context.js';

/** A method `@Periodic` accepts: `(ctx: TickContext) => unknown`, or one without parameters. */
export type PeriodicMethod = (ctx: TickContext) => unknown;

/** What `@Periodic` records (validated when the decorator is applied, again at start-up for the concrete class). */
export interface PeriodicMetadata {
  methodName: string | symbol;
  isMethod: boolean;
  schedule: PeriodicSchedule;
  options: PeriodicTaskOptions;
}

/**
 * Runs a method on a schedule with .NET PeriodicTimer semantics: fixed rate, never two runs at
 * once, missed ticks coalesced into one. When the provider is request-scoped (or depends on one),
 * each tick gets a fresh DI scope with its `TickContext` as the request. The method takes the
 * `TickContext` (or nothing): another signature does not compile (to compose it with Nest's
 * `applyDecorators`, which takes unchecked decorators, cast it: `Periodic(…) as MethodDecorator`).
 * Bad input throws a TypeError as the class is defined, naming class, method, option and value.
 *
 * @param schedule a period in ms, `{ every }`, or `{ cron, timeZone }`, plus task options
 * @param options task options (merged over those given in `schedule`)
 * @example
 * ```ts
 * @Periodic(60_000)
 * async purge(ctx: TickContext) { await this.orders.deleteExpired(ctx.signal); }
 *
 * @Periodic({ cron: CronExpression.EVERY_DAY_AT_MIDNIGHT, timeZone: 'Europe/Paris' }, { name: 'daily-report' })
 * async report() {}
 * ```
 */
export function Periodic(
  schedule: PeriodicSchedule,
  options: PeriodicTaskOptions = {},
): <M extends PeriodicMethod>(target: object, methodName: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as { name: string };
    const isMethod = typeof target !== 'function' && typeof descriptor?.value === 'function';
    const ownerName = `${owner.name}.${String(methodName)}`;
    if (!isMethod) throw new TypeError(NOT_A_METHOD('@Periodic', ownerName));
    definePeriodicTask(ownerName, schedule, options); // fails now, as the class is defined
    const inherited = (Reflect.getMetadata(PERIODIC_METADATA, owner) as PeriodicMetadata[] | undefined) ?? [];
    const entry: PeriodicMetadata = { methodName, isMethod, schedule, options };
    Reflect.defineMetadata(PERIODIC_METADATA, [...inherited, entry], owner);
  };
}
