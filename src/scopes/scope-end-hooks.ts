import { Injectable, Logger } from '@nestjs/common';
import { DiscoveryService, type ContextId } from '@nestjs/core';
import { toError } from '../errors/thrown-value.js';
import { SCOPE_HOOK_FAILED, stackOf } from '../hosting.messages.js';
import type { OnScopeEnd } from './on-scope-end.interface.js';

type Wrapper = ReturnType<DiscoveryService['getProviders']>[number];

const hasScopeEndHook = (wrapper: Wrapper): boolean =>
  typeof wrapper.metatype === 'function' &&
  !wrapper.inject &&
  typeof (wrapper.metatype.prototype as Partial<OnScopeEnd> | undefined)?.onScopeEnd === 'function';

/**
 * Finds the scoped instances of a context that implement `OnScopeEnd` and calls them,
 * dependents before their dependencies (the reverse of the order Nest created them in).
 */
@Injectable()
export class ScopeEndHooks {
  private readonly logger = new Logger('Hosting');
  private candidates?: Wrapper[];

  constructor(private readonly discovery: DiscoveryService) {}

  /**
   * Runs every hook of `contextId`; a throwing hook is logged and the others still run. A failed
   * unit of work's hooks get an Error, whatever was thrown (a non-Error arrives as `ThrownValueError`).
   * Returns undefined at once when no provider of the app has a hook (no promise on the hot path).
   */
  run(contextId: ContextId, failed: boolean, error?: unknown): Promise<void> | undefined {
    const candidates = this.getCandidates();
    return candidates.length === 0 ? undefined : this.runHooks(candidates, contextId, failed, error);
  }

  private async runHooks(candidates: Wrapper[], contextId: ContextId, failed: boolean, error?: unknown): Promise<void> {
    for (const wrapper of candidates) {
      const { instance, isResolved } = wrapper.getInstanceByContextId(contextId) as { instance: unknown; isResolved: boolean };
      if (!isResolved || !instance) continue;
      try {
        await (instance as OnScopeEnd).onScopeEnd(failed ? toError(error) : undefined);
      } catch (hookError) {
        this.logger.error(SCOPE_HOOK_FAILED(String(wrapper.name)), stackOf(hookError));
      }
    }
  }

  /** Scoped providers with a hook, computed once: the provider graph is fixed after start-up. */
  private getCandidates(): Wrapper[] {
    if (this.candidates) return this.candidates;
    const scoped = this.discovery
      .getProviders()
      .filter((w) => hasScopeEndHook(w) && !w.isTransient && !w.isDependencyTreeStatic());
    const height = new Map<Wrapper, number>();
    const measure = (w: Wrapper, seen: Set<Wrapper>): number => {
      const known = height.get(w);
      if (known !== undefined) return known;
      if (seen.has(w)) return 0;
      seen.add(w);
      const deps = [...(w.getCtorMetadata?.() ?? []), ...(w.getPropertiesMetadata?.() ?? []).map((p) => p.wrapper)];
      const h = 1 + Math.max(0, ...deps.filter(Boolean).map((d) => measure(d, seen)));
      height.set(w, h);
      return h;
    };
    // A dependent is created after its dependencies, so the highest in the graph ends first.
    this.candidates = scoped.sort((a, b) => measure(b, new Set()) - measure(a, new Set()));
    return this.candidates;
  }
}
