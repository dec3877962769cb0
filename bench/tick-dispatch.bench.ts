/**
 * Figure 2 — tick dispatch cost. CPU time per tick of a static @Periodic task against a bare
 * callback; of a scoped tick against bare Nest request-scope resolution of the same provider (the
 * provider graph of shared/anchors/scope-resolve-cost.ts); and of a scoped tick whose graph holds
 * an `OnScopeEnd` provider against the same resolution plus calling the hook by hand. Ticks are
 * driven through HostingRegistry.trigger, the public way to run a tick now; the timer itself adds
 * one setTimeout.
 */
import 'reflect-metadata';
import { Inject, Injectable, Module, Scope } from '@nestjs/common';
import { ContextIdFactory, ModuleRef, NestFactory, REQUEST } from '@nestjs/core';
import { HostingModule, HostingRegistry, Periodic, type OnScopeEnd, type TickContext } from '../src/index.js';
import { fmt, median, sized, spread, table, type BenchResult } from './bench-result.js';

@Injectable()
class Single {
  n = 0;
}
@Injectable({ scope: Scope.REQUEST })
class Repo {
  constructor(@Inject(REQUEST) readonly ctx: unknown, readonly s: Single) {}
}
@Injectable({ scope: Scope.REQUEST })
class ScopedJob {
  constructor(readonly repo: Repo, readonly s: Single) {}
  @Periodic(3_600_000, { name: 'scoped' })
  async run(_ctx?: TickContext) {
    this.s.n++;
  }
}
@Injectable()
class StaticJob {
  constructor(readonly s: Single) {}
  @Periodic(3_600_000, { name: 'static' })
  async run(_ctx?: TickContext) {
    this.s.n++;
  }
}
@Module({ imports: [HostingModule.forRoot()], providers: [Single, Repo, ScopedJob, StaticJob] })
class AppModule {}

// The same graph with an `OnScopeEnd` provider, in an app of its own: a hook anywhere in an app
// puts every scoped tick of that app through the hook pass, so the no-hook row stays without one.
@Injectable({ scope: Scope.REQUEST })
class UnitOfWork implements OnScopeEnd {
  ended = 0;
  constructor(@Inject(REQUEST) readonly ctx: unknown, readonly s: Single) {}
  async onScopeEnd(error?: unknown) {
    if (error === undefined) this.ended++;
  }
}
@Injectable({ scope: Scope.REQUEST })
class HookedJob {
  constructor(readonly work: UnitOfWork, readonly s: Single) {}
  @Periodic(3_600_000, { name: 'hooked' })
  async run(_ctx?: TickContext) {
    this.s.n++;
  }
}
@Module({ imports: [HostingModule.forRoot()], providers: [Single, UnitOfWork, HookedJob] })
class HookAppModule {}

/** CPU microseconds per iteration of `body`, run `n` times. */
async function cpuPerOp(n: number, body: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await body(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const N_STATIC = sized(200_000, 2_000);
const N_SCOPED = sized(50_000, 500);
const ROUNDS = sized(9, 2);

export async function run(): Promise<BenchResult> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const hookApp = await NestFactory.createApplicationContext(HookAppModule, { logger: false });
  const registry = app.get(HostingRegistry);
  const hookRegistry = hookApp.get(HostingRegistry);
  const moduleRef = app.get(ModuleRef);
  const hookModuleRef = hookApp.get(ModuleRef);
  const staticJob = app.get(StaticJob);
  const bare = async () => staticJob.s.n++;
  const rounds = { bare: [] as number[], static: [] as number[], nest: [] as number[], scoped: [] as number[], nestHook: [] as number[], hooked: [] as number[] };
  /** Runs a pair, the anchor first on even rounds and the library first on odd ones. */
  const pair = async (r: number, anchor: () => Promise<void>, library: () => Promise<void>) => {
    if (r % 2 === 0) {
      await anchor();
      await library();
    } else {
      await library();
      await anchor();
    }
  };
  for (let r = 0; r < ROUNDS; r++) {
    await pair(
      r,
      async () => void rounds.bare.push(await cpuPerOp(N_STATIC, () => bare())),
      async () => void rounds.static.push(await cpuPerOp(N_STATIC, () => registry.trigger('static'))),
    );
    await pair(
      r,
      async () =>
        void rounds.nest.push(
          await cpuPerOp(N_SCOPED, async (i) => {
            const id = ContextIdFactory.create();
            moduleRef.registerRequestByContextId({ tick: i }, id);
            const job = await moduleRef.resolve(ScopedJob, id, { strict: false });
            await job.run();
          }),
        ),
      async () => void rounds.scoped.push(await cpuPerOp(N_SCOPED, () => registry.trigger('scoped'))),
    );
    await pair(
      r,
      async () =>
        void rounds.nestHook.push(
          await cpuPerOp(N_SCOPED, async (i) => {
            // What a user without the library writes: a scope, the job, and the hook called by hand.
            const id = ContextIdFactory.create();
            hookModuleRef.registerRequestByContextId({ tick: i }, id);
            const job = await hookModuleRef.resolve(HookedJob, id, { strict: false });
            let error: unknown;
            try {
              await job.run();
            } catch (e) {
              error = e;
              throw e;
            } finally {
              await job.work.onScopeEnd(error);
            }
          }),
        ),
      async () => void rounds.hooked.push(await cpuPerOp(N_SCOPED, () => hookRegistry.trigger('hooked'))),
    );
  }
  await app.close();
  await hookApp.close();

  const staticGaps = rounds.static.map((v, i) => v - rounds.bare[i]);
  const scopedRatios = rounds.scoped.map((v, i) => v / rounds.nest[i]);
  const hookedRatios = rounds.hooked.map((v, i) => v / rounds.nestHook[i]);
  const staticGap = median(staticGaps);
  const scopedRatio = median(scopedRatios);
  const hookedRatio = median(hookedRatios);
  const pct = (ratios: number[]) => ratios.map((x) => (x - 1) * 100);
  const signed = (v: number, digits = 2) => `${v >= 0 ? '+' : ''}${fmt(v, digits)}`;
  const list = (values: number[], unit: string) => values.map((v) => `${signed(v, 1)}${unit}`).join(', ');
  return {
    title: '2. Tick dispatch cost',
    method:
      `CPU time (process.cpuUsage) per tick, ${ROUNDS} rounds; in each round every path runs right beside its anchor (the anchor first in even rounds, the library first in odd ones): ` +
      `${N_STATIC.toLocaleString()} static ticks and ${N_SCOPED.toLocaleString()} scoped ticks per path per round, driven through \`HostingRegistry.trigger\`. ` +
      'Each cell is the median of the per-round values (min–max); the difference is the median of the per-round differences (static) or paired ratios (scoped). ' +
      'A static tick includes its `TickContext`, its `AbortController`, status counting and the method call. A scoped tick adds a context id ' +
      '(`ContextIdFactory.getByRequest` on the `TickContext`), the resolution of the provider and its two request-scoped-graph dependencies (the anchor script\'s graph: `Repo` with `@Inject(REQUEST)`, and a singleton), ' +
      'and the `OnScopeEnd` pass, which costs nothing in the no-hook row because its app has no provider with a hook. The hook row\'s app has one: the job depends on a request-scoped `UnitOfWork` ' +
      '(`@Inject(REQUEST)` and a singleton) implementing `OnScopeEnd`, so each tick also finds that instance and awaits its `onScopeEnd()`; its anchor resolves the same job through ' +
      '`ContextIdFactory.create()` + `registerRequestByContextId` + `moduleRef.resolve` and awaits `job.work.onScopeEnd(error)` in a `finally` itself.',
    markdown: table(
      ['path', 'CPU µs per tick', 'anchor', 'anchor µs', 'difference'],
      [
        ['static `@Periodic` tick', spread(rounds.static), 'bare `await fn()`', spread(rounds.bare), `${spread(staticGaps)} µs`],
        [
          'scoped `@Periodic` tick, no hook provider',
          spread(rounds.scoped),
          '`ContextIdFactory.create()` + `registerRequestByContextId` + `moduleRef.resolve`',
          spread(rounds.nest),
          `${spread(pct(scopedRatios), 1)}%`,
        ],
        [
          'scoped tick with an `OnScopeEnd` hook',
          spread(rounds.hooked),
          'the same + `await onScopeEnd()` called by hand',
          spread(rounds.nestHook),
          `${spread(pct(hookedRatios), 1)}%`,
        ],
      ],
    ),
    targets: [
      {
        target: 'static tick within 2 µs of a bare callback (median of per-round differences)',
        measured: `${signed(staticGap)} µs`,
        met: staticGap <= 2,
        gap: staticGap <= 2 ? undefined : `per-round differences: ${list(staticGaps, ' µs')}`,
      },
      {
        target: 'scoped tick within 10% of bare Nest resolution (median of per-round ratios)',
        measured: `${signed((scopedRatio - 1) * 100, 1)}%`,
        met: scopedRatio <= 1.1,
        gap: scopedRatio <= 1.1 ? undefined : `per-round differences: ${list(pct(scopedRatios), '%')}`,
      },
      {
        target: 'scoped tick with an `OnScopeEnd` hook within 10% of bare Nest resolution + the hook called by hand (median of per-round ratios)',
        measured: `${signed((hookedRatio - 1) * 100, 1)}%`,
        met: hookedRatio <= 1.1,
        gap: hookedRatio <= 1.1 ? undefined : `per-round differences: ${list(pct(hookedRatios), '%')}`,
      },
    ],
  };
}
