import type { Type } from '@nestjs/common';
import type { ContextId, ModuleRef } from '@nestjs/core';
import { SCOPE_DISPOSED } from '../hosting.messages.js';
import type { ScopeEndHooks } from './scope-end-hooks.js';
import { OneCopy } from '../one-copy.js';

/**
 * One DI scope for a unit of work (.NET's AsyncServiceScope): request-scoped providers resolved
 * through it share one instance per scope, and `OnScopeEnd` hooks run when it is disposed.
 *
 * @example
 * ```ts
 * await using scope = this.scopes.create();
 * const orders = await scope.resolve(OrdersRepository);
 * ```
 */
@OneCopy('HostScope')
export class HostScope implements AsyncDisposable {
  private ended?: Promise<void>;

  /** Made by `ScopeFactory.create` / `run`, never by app code. */
  constructor(...madeByTheLibrary: never);
  /** @internal built by `ScopeFactory.create` */
  constructor(contextId: ContextId, request: object, moduleRef: ModuleRef, hooks: ScopeEndHooks);
  constructor(
    /** The context id that Nest keys this scope's instances by. */
    readonly contextId: ContextId,
    /** The object `@Inject(REQUEST)` returns inside the scope. */
    readonly request: object,
    private readonly moduleRef: ModuleRef,
    private readonly hooks: ScopeEndHooks,
  ) {}

  /** Resolves a provider in this scope (request-scoped ones are created once per scope). */
  resolve<T>(typeOrToken: Type<T> | string | symbol, options: { strict?: boolean } = {}): Promise<T> {
    if (this.ended) return Promise.reject(new Error(SCOPE_DISPOSED('resolve')));
    return this.moduleRef.resolve<T, T>(typeOrToken, this.contextId, { strict: options.strict ?? false });
  }

  /**
   * Ends the scope: `onScopeEnd(error)` runs on every scoped instance that implements it.
   * Pass the error of a failed unit of work so that hooks roll back. Idempotent.
   */
  dispose(error?: unknown): Promise<void> {
    this.ended ??= this.hooks.run(this.contextId, error !== undefined, error) ?? Promise.resolve();
    return this.ended;
  }

  /** `await using` ends the scope as a success; call `dispose(error)` yourself to report a failure. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
