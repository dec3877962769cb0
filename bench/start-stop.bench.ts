/**
 * Figure 4 — start and stop cost: createApplicationContext + init + close with 0 and 1,000
 * decorated providers (against the same providers undecorated, without the host), and close()
 * with 1,000 idle periodic tasks and 100 background services that honour their signal.
 */
import 'reflect-metadata';
import { Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BackgroundService, HostingModule, Periodic } from '../src/index.js';
import { fmt, median, table, type BenchResult } from './bench-result.js';

function plainProviders(count: number): Type[] {
  return Array.from({ length: count }, (_, i) => {
    @Injectable()
    class Plain {
      work() {}
    }
    Object.defineProperty(Plain, 'name', { value: `Plain${i}` });
    return Plain;
  });
}

function periodicProviders(count: number): Type[] {
  return Array.from({ length: count }, (_, i) => {
    @Injectable()
    class Task {
      @Periodic(3_600_000)
      work() {}
    }
    Object.defineProperty(Task, 'name', { value: `Task${i}` });
    return Task;
  });
}

function backgroundServices(count: number): Type[] {
  return Array.from({ length: count }, (_, i) => {
    @BackgroundService({ name: `service-${i}` })
    class Service {
      execute(signal: AbortSignal) {
        return new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve())));
      }
    }
    return Service;
  });
}

async function cycle(providers: Type[], withHost: boolean): Promise<{ startMs: number; closeMs: number }> {
  @Module({ imports: withHost ? [HostingModule.forRoot()] : [], providers })
  class AppModule {}
  const t0 = performance.now();
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const t1 = performance.now();
  await new Promise((resolve) => setImmediate(resolve)); // let background services start
  const t2 = performance.now();
  await app.close();
  return { startMs: t1 - t0, closeMs: performance.now() - t2 };
}

async function medianCycle(make: () => Type[], withHost: boolean, rounds = 7) {
  const results = [];
  for (let r = 0; r < rounds; r++) results.push(await cycle(make(), withHost));
  return { startMs: median(results.map((r) => r.startMs)), closeMs: median(results.map((r) => r.closeMs)), total: median(results.map((r) => r.startMs + r.closeMs)) };
}

export async function run(): Promise<BenchResult> {
  await medianCycle(() => plainProviders(100), true, 3); // warm up
  const empty = await medianCycle(() => [], false);
  const emptyHost = await medianCycle(() => [], true);
  const plain = await medianCycle(() => plainProviders(1_000), false);
  const decorated = await medianCycle(() => periodicProviders(1_000), true);
  const busy = await medianCycle(() => [...periodicProviders(1_000), ...backgroundServices(100)], true);
  const added = decorated.total - plain.total;
  return {
    title: '4. Start and stop cost',
    method:
      '`NestFactory.createApplicationContext` + `init()` + `close()`, median of 7 rounds, fresh classes each round. ' +
      '"Added" compares 1,000 providers with a `@Periodic` method each under `HostingModule` with the same 1,000 ' +
      'providers undecorated and without it.',
    markdown: table(
      ['app', 'create + init (ms)', 'close (ms)', 'total (ms)'],
      [
        ['0 providers, no host (anchor)', fmt(empty.startMs), fmt(empty.closeMs), fmt(empty.total)],
        ['0 providers, `HostingModule`', fmt(emptyHost.startMs), fmt(emptyHost.closeMs), fmt(emptyHost.total)],
        ['1,000 plain providers, no host (anchor)', fmt(plain.startMs), fmt(plain.closeMs), fmt(plain.total)],
        ['1,000 `@Periodic` providers, `HostingModule`', fmt(decorated.startMs), fmt(decorated.closeMs), fmt(decorated.total)],
        ['1,000 idle `@Periodic` + 100 `@BackgroundService`', fmt(busy.startMs), fmt(busy.closeMs), fmt(busy.total)],
      ],
    ),
    targets: [
      {
        target: 'under 50 ms added at 1,000 decorated providers',
        measured: `${fmt(added)} ms`,
        met: added < 50,
        gap: added < 50 ? undefined : 'discovery, validation and 1,000 armed timers at start',
      },
      {
        target: 'close() with 1,000 idle periodic tasks and 100 background services under 50 ms',
        measured: `${fmt(busy.closeMs)} ms`,
        met: busy.closeMs < 50,
        gap: busy.closeMs < 50 ? undefined : 'Nest walks every provider for its lifecycle hooks on close',
      },
    ],
  };
}
