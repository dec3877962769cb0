import { ContextIdFactory, ModuleRef, type ContextId, type DiscoveryService } from '@nestjs/core';
import type { ScopeEndHooks } from './scope-end-hooks.js';

type Wrapper = ReturnType<DiscoveryService['getProviders']>[number];

/** A provider instance seen as what the invoker calls on it: methods taking the item (and the tick/signal). */
type Callable = Record<string | symbol, (first: unknown, second: unknown) => unknown>;

/**
 * Calls a method on a discovered provider: directly when static (returning what the method
 * returns, so a synchronous handler costs no promise), in a fresh DI scope otherwise.
 */
export type Invoker = (request: object, method: string | symbol, first: unknown, second?: unknown) => unknown;

/**
 * Runs a unit's call inside the interceptor chain (`interception/`): `request` is the unit's
 * context (tick, job, or the service's signal), `first` the queue item (undefined for the other
 * kinds), `contextId` the unit's DI scope when it has one. The scope is open before and ended
 * (its `onScopeEnd` hooks run) inside `call`.
 */
export type Around = (request: object, first: unknown, contextId: ContextId | undefined, call: () => unknown) => unknown;

/** The ModuleRef of the module that declares `wrapper`, so that a class provided twice resolves to its own. */
export function hostModuleRef(wrapper: Wrapper, fallback: ModuleRef): { ref: ModuleRef; strict: boolean } {
  const host = wrapper.host as unknown as { getProviderByKey?(key: unknown): { instance?: unknown } | undefined } | undefined;
  const ref = host?.getProviderByKey?.(ModuleRef)?.instance;
  return ref instanceof ModuleRef ? { ref, strict: true } : { ref: fallback, strict: false };
}

/** Opens a scope for `request`: a context id (through any registered ContextIdStrategy) with the request registered. */
export function openScope(moduleRef: ModuleRef, request: object): ContextId {
  const contextId = ContextIdFactory.getByRequest(request as Record<string, unknown>);
  moduleRef.registerRequestByContextId(request, contextId);
  return contextId;
}

/**
 * Builds the invoker of one provider; the static check happens once, not per call. With `around`
 * (interceptors registered), each call runs inside it; without, a static call is the bare call.
 */
export function createInvoker(wrapper: Wrapper, moduleRef: ModuleRef, hooks: ScopeEndHooks, around?: Around): Invoker {
  if (wrapper.isDependencyTreeStatic() && !wrapper.isTransient) {
    const instance = wrapper.instance as Callable;
    // Two fixed arguments, no rest array: this runs once per queue item.
    if (!around) return (_request, method, first, second) => instance[method](first, second);
    return (request, method, first, second) => around(request, first, undefined, () => instance[method](first, second));
  }
  const { ref, strict } = hostModuleRef(wrapper, moduleRef);
  const inScope = async (contextId: ContextId, method: string | symbol, first: unknown, second: unknown): Promise<unknown> => {
    let failed = false;
    let error: unknown;
    try {
      const instance = (await ref.resolve(wrapper.token as never, contextId, { strict })) as Callable;
      return await instance[method](first, second);
    } catch (e) {
      failed = true;
      error = e;
      throw e;
    } finally {
      const ending = hooks.run(contextId, failed, error);
      if (ending) await ending;
    }
  };
  return (request, method, first, second) => {
    const contextId = openScope(moduleRef, request);
    return around ? around(request, first, contextId, () => inScope(contextId, method, first, second)) : inScope(contextId, method, first, second);
  };
}

/**
 * What runs a `@Periodic` or `@Delayed` method with its tick context. A singleton provider without
 * interceptors gets its method bound to it, read once here, when the app starts (as @nestjs/schedule
 * binds its handlers): thousands of task classes would otherwise cost a megamorphic lookup and
 * three closures per tick. Otherwise the invoker runs it (a DI scope per tick, interceptors).
 */
export function createTickRunner(wrapper: Wrapper, method: string | symbol, moduleRef: ModuleRef, hooks: ScopeEndHooks, around?: Around): (context: object) => unknown {
  if (!around && wrapper.isDependencyTreeStatic() && !wrapper.isTransient) {
    const instance = wrapper.instance as Callable | undefined;
    const fn = instance?.[method];
    if (typeof fn === 'function') return fn.bind(instance) as (context: object) => unknown;
  }
  const invoke = createInvoker(wrapper, moduleRef, hooks, around);
  return (context) => invoke(context, method, context);
}
