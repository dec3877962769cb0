import type { Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { HostingExplorer } from '../discovery/hosting.explorer.js';
import { INTERCEPTOR_NOT_SINGLETON, INVALID_INTERCEPTOR } from '../hosting.messages.js';
import type { WorkInterceptor } from '../interception/work-interceptor.js';
import type { RegisteredInterceptor } from '../interception/work-interceptors.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';

const isInterceptor = (value: unknown): value is WorkInterceptor =>
  typeof value === 'object' && value !== null && typeof (value as WorkInterceptor).intercept === 'function';

/**
 * The host's chain, outermost first: `forRoot({ interceptors })` in their order (a class is the
 * app's provider of that class when there is one, else made by Nest with its dependencies
 * injected), then `@WorkInterceptor()` providers by `order`, ties in discovery order. An
 * interceptor listed both ways runs once, where `forRoot` put it.
 */
export async function resolveInterceptors(
  given: HostingOptions['interceptors'],
  explorer: HostingExplorer,
  moduleRef: ModuleRef,
): Promise<RegisteredInterceptor[]> {
  const chain: RegisteredInterceptor[] = [];
  for (const [index, entry] of (given ?? []).entries()) {
    const source = `HostingModule.forRoot({ interceptors })[${index}]`;
    const interceptor = typeof entry === 'function' ? await instanceOf(entry, moduleRef) : entry;
    if (!isInterceptor(interceptor)) throw new TypeError(INVALID_INTERCEPTOR(source, entry));
    chain.push({ interceptor, source: typeof entry === 'function' ? entry.name : (interceptor.constructor?.name ?? source) });
  }
  const decorated = explorer
    .workInterceptors()
    .map((found, index) => ({ ...found, index }))
    .sort((a, b) => a.order - b.order || a.index - b.index);
  for (const { wrapper, className } of decorated) {
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) throw new Error(INTERCEPTOR_NOT_SINGLETON(className));
    const interceptor = wrapper.instance as WorkInterceptor;
    if (chain.some((entry) => entry.interceptor === interceptor)) continue;
    chain.push({ interceptor, source: className });
  }
  return chain;
}

/** The app's provider of `type`, or a new instance made by Nest (dependencies injected). */
async function instanceOf(type: Type<unknown>, moduleRef: ModuleRef): Promise<unknown> {
  try {
    return moduleRef.get(type, { strict: false });
  } catch {
    return moduleRef.create(type);
  }
}
