import type { ModulesContainer } from '@nestjs/core';

type BootstrapHook = (...args: unknown[]) => unknown;

/**
 * Calls `start` once Nest has run every module's `onApplicationBootstrap` hook, including the
 * app's own (an async cache warm-up, say). HostingModule is global, so Nest runs its hook among
 * the FIRST; hosted work started there would race the app's hooks.
 *
 * How: Nest calls module hooks module by module in order of distance from the root (furthest
 * first: global modules, then the imports, the root module, at distance 1, last), and within a
 * module calls the module class's own hook after every provider's. So the hook of the last
 * module's class instance runs last of all: it is wrapped (for that app only: an own property of
 * that instance, removed when called), and the original hook, if any, runs first. The order is the
 * same stable sort Nest does over the same container, leaving out modules at distance 0: those a
 * `LazyModuleLoader` loaded, which Nest may not call bootstrap hooks on at all.
 *
 * Returns false when that is not possible (no module instance, or one whose hook Nest would not
 * call because it depends on a request-scoped provider); the caller then starts at once.
 */
export function afterAppBootstrap(modules: ModulesContainer, start: () => void): boolean {
  try {
    const last = [...modules.values()].filter((m) => m.distance >= 1).sort((a, b) => b.distance - a.distance).at(-1);
    const classHost = last?.getNonAliasProviders()[0]?.[1];
    const instance = classHost?.instance as Record<string, unknown> | undefined;
    if (!instance || typeof instance !== 'object' || classHost?.metatype !== last?.metatype || !classHost?.isDependencyTreeStatic()) return false;
    const own = Object.getOwnPropertyDescriptor(instance, 'onApplicationBootstrap');
    const original = instance.onApplicationBootstrap as BootstrapHook | undefined;
    const wrapped: BootstrapHook = async (...args) => {
      if (own) Object.defineProperty(instance, 'onApplicationBootstrap', own);
      else delete instance.onApplicationBootstrap;
      if (typeof original === 'function') await original.apply(instance, args);
      start(); // not when the app's own hook failed: init rejects, and the app does not start
    };
    Object.defineProperty(instance, 'onApplicationBootstrap', { value: wrapped, configurable: true, writable: true, enumerable: false });
    return true;
  } catch {
    return false; // a frozen module instance, an older Nest: start at once, as before
  }
}
