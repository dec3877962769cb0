/**
 * Figure 4 — start and stop cost: createApplicationContext + init + close with 0 and 1,000
 * decorated providers (against the same providers undecorated, without the host), and close()
 * with 1,000 idle periodic tasks and 100 background services that honour their signal.
 */
import 'reflect-metadata';
import { Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BackgroundService, HostingModule, Periodic } from '../src/index.js';
import { fmt, median, sized, spread, table, type BenchResult } from './bench-result.js';

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

type Cycle = { startMs: number; closeMs: number; total: number };

const PROVIDERS = sized(1_000, 50);
const SERVICES = sized(100, 10);
const ROUNDS = sized(7, 2);

export async function run(): Promise<BenchResult> {
  for (let r = 0; r < sized(3, 1); r++) await cycle(plainProviders(100), true); // warm up
  const variants: Array<{ name: string; make: () => Type[]; withHost: boolean; cycles: Cycle[] }> = [
    { name: 'empty', make: () => [], withHost: false, cycles: [] },
    { name: 'emptyHost', make: () => [], withHost: true, cycles: [] },
    { name: 'plain', make: () => plainProviders(PROVIDERS), withHost: false, cycles: [] },
    { name: 'decorated', make: () => periodicProviders(PROVIDERS), withHost: true, cycles: [] },
    { name: 'busy', make: () => [...periodicProviders(PROVIDERS), ...backgroundServices(SERVICES)], withHost: true, cycles: [] },
  ];
  for (let r = 0; r < ROUNDS; r++) {
    // Every app once per round, the order rotating each round, so that drift hits each alike.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(r + i) % variants.length];
      const { startMs, closeMs } = await cycle(v.make(), v.withHost);
      v.cycles.push({ startMs, closeMs, total: startMs + closeMs });
    }
  }
  const [empty, emptyHost, plain, decorated, busy] = variants.map((v) => v.cycles);
  const row = (label: string, cycles: Cycle[]) => [label, spread(cycles.map((c) => c.startMs)), spread(cycles.map((c) => c.closeMs)), spread(cycles.map((c) => c.total))];
  const addedPerRound = decorated.map((c, i) => c.total - plain[i].total);
  const added = median(addedPerRound);
  const busyClose = busy.map((c) => c.closeMs);
  const busyCloseMs = median(busyClose);
  const n = PROVIDERS.toLocaleString();
  const list = (values: number[]) => values.map((v) => fmt(v)).join(', ');
  return {
    title: '4. Start and stop cost',
    method:
      `\`NestFactory.createApplicationContext\` + \`init()\` + \`close()\`, ${ROUNDS} rounds, each app once per round (the order rotating each round), fresh classes each time; ` +
      'each cell is the median of the per-round values (min–max). ' +
      `"Added" compares ${n} providers with a \`@Periodic\` method each under \`HostingModule\` with the same ${n} ` +
      'providers undecorated and without it: the median of the per-round differences of the totals.',
    markdown: table(
      ['app', 'create + init (ms)', 'close (ms)', 'total (ms)'],
      [
        row('0 providers, no host (anchor)', empty),
        row('0 providers, `HostingModule`', emptyHost),
        row(`${n} plain providers, no host (anchor)`, plain),
        row(`${n} \`@Periodic\` providers, \`HostingModule\``, decorated),
        row(`${n} idle \`@Periodic\` + ${SERVICES} \`@BackgroundService\``, busy),
        ['added by the host at ' + n + ' decorated providers (per-round difference)', '', '', spread(addedPerRound)],
      ],
    ),
    targets: [
      {
        target: `under 50 ms added at ${n} decorated providers (median of per-round differences)`,
        measured: `${fmt(added)} ms`,
        met: added < 50,
        gap: added < 50 ? undefined : `per-round differences: ${list(addedPerRound)} ms`,
      },
      {
        target: `close() with ${n} idle periodic tasks and ${SERVICES} background services under 50 ms (median of rounds)`,
        measured: `${fmt(busyCloseMs)} ms`,
        met: busyCloseMs < 50,
        gap: busyCloseMs < 50 ? undefined : `per-round close times: ${list(busyClose)} ms`,
      },
    ],
  };
}
