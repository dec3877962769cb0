import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { toError } from '../errors/thrown-value.js';
import { HostScope } from './host-scope.js';
import { ScopeEndHooks } from './scope-end-hooks.js';
import { openScope } from './scoped-invoker.js';
import { OneCopy } from '../one-copy.js';

/**
 * Creates DI scopes for units of work outside HTTP requests (.NET's IServiceScopeFactory).
 *
 * @example
 * ```ts
 * await this.scopes.run(async (scope) => (await scope.resolve(OrdersRepository)).save(order));
 * ```
 */
@OneCopy('ScopeFactory')
@Injectable()
export class ScopeFactory {
  /** Made by Nest, never by app code: inject it. */
  constructor(...madeByNest: never);
  /** @internal injected by Nest */
  constructor(moduleRef: ModuleRef, hooks: ScopeEndHooks);
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly hooks: ScopeEndHooks,
  ) {}

  /** A new scope; `request` is what `@Inject(REQUEST)` returns in it (default: an empty object). */
  create(request: object = {}): HostScope {
    return new HostScope(openScope(this.moduleRef, request), request, this.moduleRef, this.hooks);
  }

  /** Runs `work` in a new scope and ends it, with `work`'s error if it failed; returns `work`'s result. */
  async run<T>(work: (scope: HostScope) => Promise<T> | T, request?: object): Promise<T> {
    const scope = this.create(request);
    let result: T;
    try {
      result = await work(scope);
    } catch (error) {
      await scope.dispose(toError(error));
      throw error;
    }
    await scope.dispose();
    return result;
  }
}
