import { Inject, Injectable, Scope } from '@nestjs/common';
import { ContextIdFactory, REQUEST, type ContextId, type ContextIdStrategy, type HostComponentInfo } from '@nestjs/core';
import { HostingRegistry, Periodic, TickContext, type OnScopeEnd } from '../../src/index.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';

/** Counts the context ids Nest creates through getByRequest, and makes durable providers live per tenant. */
class CountingStrategy implements ContextIdStrategy {
  attached = 0;
  readonly tenant: ContextId = ContextIdFactory.create();
  attach(contextId: ContextId) {
    this.attached++;
    return (info: HostComponentInfo) => (info.isTreeDurable ? this.tenant : contextId);
  }
}

describe('a scope per tick', () => {
  let strategy: CountingStrategy;
  beforeEach(() => {
    strategy = new CountingStrategy();
    ContextIdFactory.apply(strategy);
  });
  afterEach(() => ContextIdFactory.apply(undefined as unknown as ContextIdStrategy));

  describe('when the task depends on a request-scoped provider', () => {
    it('resolves a fresh instance each tick, with the TickContext as REQUEST', async () => {
      const seen: Array<{ repo: OrdersRepository; request: unknown; ctx: TickContext }> = [];
      let created = 0;
      @Injectable({ scope: Scope.REQUEST })
      class OrdersRepository {
        readonly id = ++created;
        constructor(@Inject(REQUEST) readonly request: TickContext) {}
      }
      @Injectable({ durable: true, scope: Scope.REQUEST })
      class TenantCache {
        static instances = 0;
        constructor() {
          TenantCache.instances++;
        }
      }
      @Injectable()
      class CleanupJob {
        constructor(
          private readonly orders: OrdersRepository,
          private readonly cache: TenantCache,
        ) {}
        @Periodic(20)
        purge(ctx: TickContext) {
          seen.push({ repo: this.orders, request: this.orders.request, ctx });
        }
      }
      const { app } = await startHostingApp({ providers: [OrdersRepository, TenantCache, CleanupJob] });
      await waitFor(() => seen.length >= 3);
      await app.close();
      expect(new Set(seen.map((s) => s.repo)).size).toBe(seen.length);
      for (const s of seen) {
        expect(s.request).toBe(s.ctx);
        expect(s.ctx).toBeInstanceOf(TickContext);
      }
      // the registered ContextIdStrategy was used for every tick, and the durable provider was shared
      expect(strategy.attached).toBeGreaterThanOrEqual(seen.length);
      expect(TenantCache.instances).toBe(1);
    });

    it('calls OnScopeEnd of the scoped instances after each tick, with the error of a failed tick', async () => {
      const ends: Array<{ tick: number; error?: string }> = [];
      @Injectable({ scope: Scope.REQUEST })
      class UnitOfWork implements OnScopeEnd {
        constructor(@Inject(REQUEST) private readonly ctx: TickContext) {}
        onScopeEnd(error?: unknown) {
          ends.push({ tick: this.ctx.tick, error: error ? (error as Error).message : undefined });
        }
      }
      @Injectable()
      class Job {
        constructor(private readonly uow: UnitOfWork) {}
        @Periodic(20)
        run(ctx: TickContext) {
          if (ctx.tick === 2) throw new Error('tick 2 failed');
        }
      }
      const { app } = await startHostingApp({ providers: [UnitOfWork, Job] });
      await waitFor(() => ends.length >= 3);
      await app.close();
      expect(ends.slice(0, 3)).toEqual([{ tick: 1 }, { tick: 2, error: 'tick 2 failed' }, { tick: 3 }]);
    });
  });

  describe('when the task is static', () => {
    it('calls the singleton directly and never creates a scope', async () => {
      const instances = new Set<unknown>();
      @Injectable()
      class Singleton {}
      @Injectable()
      class StaticJob {
        constructor(readonly dep: Singleton) {}
        @Periodic(15)
        run() {
          instances.add(this);
        }
      }
      const { app } = await startHostingApp({ providers: [Singleton, StaticJob] });
      await waitFor(() => app.get(HostingRegistry).get('StaticJob.run')!.runs >= 3);
      await app.close();
      expect([...instances]).toEqual([app.get(StaticJob)]);
      expect(strategy.attached).toBe(0);
    });
  });
});
