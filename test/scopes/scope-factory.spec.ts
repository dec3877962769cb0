import { Inject, Injectable, Scope } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { ScopeFactory, type HostScope, type OnScopeEnd } from '../../src/index.js';
import { SCOPE_DISPOSED, SCOPE_HOOK_FAILED } from '../../src/hosting.messages.js';
import { startHostingApp } from '../support/hosting-app.js';

/** A tiny in-memory database with transactions, to see commits and rollbacks. */
@Injectable()
class Database {
  readonly rows: string[] = [];
  readonly log: string[] = [];
}

@Injectable({ scope: Scope.REQUEST })
class UnitOfWork implements OnScopeEnd {
  readonly pending: string[] = [];
  constructor(private readonly db: Database) {}
  onScopeEnd(error?: unknown) {
    if (error) {
      this.db.log.push(`rollback ${this.pending.length}`);
    } else {
      this.db.rows.push(...this.pending);
      this.db.log.push(`commit ${this.pending.length}`);
    }
  }
}

@Injectable({ scope: Scope.REQUEST })
class OrdersRepository implements OnScopeEnd {
  constructor(
    readonly uow: UnitOfWork,
    private readonly db: Database,
    @Inject(REQUEST) readonly request: unknown,
  ) {}
  save(order: string) {
    this.uow.pending.push(order);
  }
  onScopeEnd() {
    this.db.log.push('repository end');
  }
}

describe('ScopeFactory', () => {
  const start = () => startHostingApp({ providers: [Database, UnitOfWork, OrdersRepository] });

  it('run() commits through OnScopeEnd when the unit of work succeeds, and returns its result', async () => {
    const { app } = await start();
    const db = app.get(Database);
    const result = await app.get(ScopeFactory).run(async (scope) => {
      const orders = await scope.resolve(OrdersRepository);
      orders.save('a');
      orders.save('b');
      return 'done';
    });
    expect(result).toBe('done');
    expect(db.rows).toEqual(['a', 'b']);
    // dependents end before their dependencies (reverse creation order)
    expect(db.log).toEqual(['repository end', 'commit 2']);
    await app.close();
  });

  it('run() rolls back when the unit of work throws, and rethrows', async () => {
    const { app } = await start();
    const db = app.get(Database);
    await expect(
      app.get(ScopeFactory).run(async (scope) => {
        (await scope.resolve(OrdersRepository)).save('x');
        throw new Error('payment declined');
      }),
    ).rejects.toThrow('payment declined');
    expect(db.rows).toEqual([]);
    expect(db.log).toEqual(['repository end', 'rollback 1']);
    await app.close();
  });

  it('one scope shares its request-scoped instances; two scopes do not', async () => {
    const { app } = await start();
    const scopes = app.get(ScopeFactory);
    const a = scopes.create({ user: 'a' });
    const b = scopes.create({ user: 'b' });
    const a1 = await a.resolve(OrdersRepository);
    const a2 = await a.resolve(OrdersRepository);
    const b1 = await b.resolve(OrdersRepository);
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b1);
    expect(a1.uow).toBe(await a.resolve(UnitOfWork));
    expect(a1.request).toEqual({ user: 'a' });
    expect(b1.request).toBe(b.request);
    await a.dispose();
    await b.dispose(new Error('cancelled'));
    expect(app.get(Database).log).toEqual(['repository end', 'commit 0', 'repository end', 'rollback 0']);
    await app.close();
  });

  it('supports `await using`, and a disposed scope refuses to resolve', async () => {
    const { app } = await start();
    let escaped: HostScope | undefined;
    {
      await using scope = app.get(ScopeFactory).create();
      (await scope.resolve(OrdersRepository)).save('u');
      escaped = scope;
    }
    expect(app.get(Database).rows).toEqual(['u']);
    await expect(escaped!.resolve(OrdersRepository)).rejects.toThrow(SCOPE_DISPOSED('resolve'));
    // dispose is idempotent: hooks ran once
    await escaped!.dispose();
    expect(app.get(Database).log).toEqual(['repository end', 'commit 1']);
    await app.close();
  });

  it('a throwing hook is logged and the other hooks still run', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class Broken implements OnScopeEnd {
      constructor(readonly repo: OrdersRepository) {}
      onScopeEnd(): void {
        throw new Error('hook broke');
      }
    }
    const { app, logger } = await startHostingApp({ providers: [Database, UnitOfWork, OrdersRepository, Broken] });
    await app.get(ScopeFactory).run(async (scope) => {
      (await scope.resolve(Broken)).repo.save('k');
    });
    expect(app.get(Database).rows).toEqual(['k']);
    const errors = logger.find('error', SCOPE_HOOK_FAILED('Broken'));
    expect(errors).toHaveLength(1);
    expect(errors[0].details).toContain('hook broke');
    await app.close();
  });

  it('instances never resolved in a scope get no hook call', async () => {
    const { app } = await start();
    await app.get(ScopeFactory).run(async (scope) => {
      await scope.resolve(UnitOfWork);
    });
    expect(app.get(Database).log).toEqual(['commit 0']);
    await app.close();
  });
});
