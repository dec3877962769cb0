/**
 * Implemented by a request-scoped provider that must finish its unit of work when the scope ends
 * (a tick, a queue item, `ScopeFactory.run`, `HostScope.dispose`).
 *
 * @example
 * ```ts
 * @Injectable({ scope: Scope.REQUEST })
 * export class UnitOfWork implements OnScopeEnd {
 *   async onScopeEnd(error?: unknown) {
 *     if (error) await this.tx.rollback(); else await this.tx.commit();
 *   }
 * }
 * ```
 */
export interface OnScopeEnd {
  /** Called once when the scope ends; `error` is set when the unit of work failed. */
  onScopeEnd(error?: unknown): void | Promise<void>;
}
