/**
 * Figure 3 — memory: 1,000,000 scoped ticks through HostingRegistry.trigger; the heap after a
 * full GC must come back to where it started (no per-scope leak). Needs --expose-gc.
 */
import 'reflect-metadata';
import { Inject, Injectable, Module, Scope } from '@nestjs/common';
import { NestFactory, REQUEST } from '@nestjs/core';
import { HostingModule, HostingRegistry, Periodic, type OnScopeEnd, type TickContext } from '../src/index.js';
import { fmt, sized, table, type BenchResult } from './bench-result.js';

@Injectable()
class Counter {
  n = 0;
}
@Injectable({ scope: Scope.REQUEST })
class UnitOfWork implements OnScopeEnd {
  constructor(@Inject(REQUEST) readonly ctx: TickContext, readonly counter: Counter) {}
  onScopeEnd() {
    this.counter.n++;
  }
}
@Injectable()
class Job {
  constructor(readonly uow: UnitOfWork) {}
  @Periodic(3_600_000, { name: 'scoped' })
  run() {}
}
@Module({ imports: [HostingModule.forRoot()], providers: [Counter, UnitOfWork, Job] })
class AppModule {}

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) collect();
};
const heapMb = () => process.memoryUsage().heapUsed / 1e6;

export async function run(): Promise<BenchResult> {
  const TICKS = sized(1_000_000, 4_000);
  const WARMUP = sized(20_000, 500);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const registry = app.get(HostingRegistry);
  for (let i = 0; i < WARMUP; i++) await registry.trigger('scoped'); // warm up (JIT, caches)
  gc();
  const before = heapMb();
  const samples: Array<[number, number]> = [];
  const t0 = Date.now();
  for (let i = 1; i <= TICKS; i++) {
    await registry.trigger('scoped');
    if (i % (TICKS / 4) === 0) {
      gc();
      samples.push([i, heapMb()]);
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  gc();
  const after = heapMb();
  const hooks = app.get(Counter).n;
  await app.close();
  const delta = after - before;
  return {
    title: `3. Memory over ${TICKS.toLocaleString()} scoped ticks`,
    method:
      'A provider with a request-scoped unit of work (it takes `REQUEST` and implements `OnScopeEnd`) ticked ' +
      `${TICKS.toLocaleString()} times through \`HostingRegistry.trigger\` after a warm-up of ${WARMUP.toLocaleString()} ticks, in one run (no rounds); heapUsed after three forced GCs ` +
      `(node --expose-gc). ${hooks.toLocaleString()} scopes ended with their hook in ${fmt(seconds, 1)} s.`,
    markdown: table(
      ['after ticks', 'heapUsed after GC (MB)'],
      [[0, fmt(before)], ...samples.map(([i, mb]) => [i.toLocaleString(), fmt(mb)])],
    ),
    targets: [
      {
        target: 'heap after GC within 1 MB of where it started',
        measured: `${delta >= 0 ? '+' : ''}${fmt(delta)} MB`,
        met: delta <= 1, // a heap that ends lower than it started has leaked nothing
        gap: delta <= 1 ? undefined : `heapUsed after GC: ${[before, ...samples.map(([, mb]) => mb)].map((mb) => fmt(mb)).join(' → ')} MB`,
      },
    ],
  };
}
