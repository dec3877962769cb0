import { DELAYED_METADATA } from '../hosting.constants.js';
import { NOT_A_METHOD } from '../hosting.messages.js';
import { defineDelayedTask } from '../scheduling/delayed-task-definition.js';
import type { DelayedTaskOptions } from '../interfaces/delayed-options.interface.js';
import type { TickContext } from '../scheduling/tick-context.js';

/** A method `@Delayed` accepts: `(ctx: TickContext) => unknown`, or one without parameters. */
export type DelayedMethod = (ctx: TickContext) => unknown;

/** What `@Delayed` records (validated when the decorator is applied, again at start-up for the concrete class). */
export interface DelayedMetadata {
  methodName: string | symbol;
  delayMs: number;
  options: DelayedTaskOptions;
}

/**
 * Runs a method once, `delayMs` after the host started (`@nestjs/schedule`'s `@Timeout(ms)`). As a
 * `@Periodic` tick: a request-scoped provider gets a fresh DI scope with the `TickContext` as the
 * request; a failure is logged and counted, never fatal; `timeoutMs` aborts `ctx.signal`. Shutdown
 * cancels it: not run if the host stops first, its signal aborted if it is running. Listed in
 * `HostingRegistry` (kind `'periodic'`, schedule `once after <ms> ms`; `'stopped'` once it ran).
 * Bad input throws a TypeError as the class is defined, naming `@Delayed on Class.method`, the
 * option and the value.
 *
 * @param delayMs milliseconds after start-up, from 0 to 100 years
 * @example
 * ```ts
 * @Delayed(10_000)
 * async warmCache(ctx: TickContext) { await this.cache.load(ctx.signal); }
 * ```
 */
export function Delayed(
  delayMs: number,
  options: DelayedTaskOptions = {},
): <M extends DelayedMethod>(target: object, methodName: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  return (target: object, methodName: string | symbol, descriptor?: PropertyDescriptor): void => {
    const owner = (typeof target === 'function' ? target : target.constructor) as { name: string };
    const isMethod = typeof target !== 'function' && typeof descriptor?.value === 'function';
    const ownerName = `${owner.name}.${String(methodName)}`;
    if (!isMethod) throw new TypeError(NOT_A_METHOD('@Delayed', ownerName));
    defineDelayedTask(ownerName, delayMs, options); // fails now, as the class is defined
    const inherited = (Reflect.getMetadata(DELAYED_METADATA, owner) as DelayedMetadata[] | undefined) ?? [];
    Reflect.defineMetadata(DELAYED_METADATA, [...inherited, { methodName, delayMs, options }], owner);
  };
}
