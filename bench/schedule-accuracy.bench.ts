/**
 * Figure 1 — schedule accuracy: ticks at 10 ms through `@Periodic`, a hand-written fixed-rate
 * `setTimeout` loop (the limit: bench/fixed-rate-loop.ts), `@nestjs/schedule`'s `@Interval` and a
 * plain `setInterval`, one after the other in this process, in a different order each round.
 * BENCH_ACCURACY_TICKS (default 500) and BENCH_ACCURACY_ROUNDS (default 3) size it.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { HostingModule, Periodic, type TickContext } from '../src/index.js';
import { fmt, median, percentile, sized, spread, table, type BenchResult } from './bench-result.js';
import { fixedRateLoop } from './fixed-rate-loop.js';

const TICKS = Number(process.env.BENCH_ACCURACY_TICKS ?? sized(500, 20));
const ROUNDS = Number(process.env.BENCH_ACCURACY_ROUNDS ?? sized(3, 1));
const PERIOD = 10;
/** The goal (issue 12): `@Periodic` within this much of the hand-written loop, p50 and p99. */
const P50_MARGIN_MS = 0.2;
const P99_MARGIN_MS = 0.5;

/** High-resolution epoch milliseconds, on the clock `scheduledAt` is placed on. */
const now = () => performance.timeOrigin + performance.now();
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Lateness of tick k (1-based) against the ideal grid `origin + k·PERIOD`, so drift accumulates into it. */
function againstGrid(times: number[], origin: number): number[] {
  return times.map((t, i) => t - (origin + (i + 1) * PERIOD));
}

function collector() {
  const times: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return { times, finished, tick: (at = now()) => times.push(at) === TICKS && done() };
}

/** Lateness against each tick's own slot, `ctx.scheduledAt` (the grid `@Periodic` keeps: start + k·period). */
async function periodic(): Promise<number[]> {
  const late: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  @Injectable()
  class Job {
    @Periodic(PERIOD)
    tick(ctx: TickContext) {
      if (late.push(now() - ctx.scheduledAt.getTime()) === TICKS) done();
    }
  }
  @Module({ imports: [HostingModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await finished;
  await app.close();
  return late.slice(0, TICKS);
}

async function nestInterval(): Promise<number[]> {
  const c = collector();
  @Injectable()
  class Job {
    @Interval(PERIOD)
    tick() {
      c.tick();
    }
  }
  @Module({ imports: [ScheduleModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  // @Interval registers at bootstrap, just before this returns: an origin in its favour.
  const origin = now();
  await c.finished;
  await app.close();
  return againstGrid(c.times.slice(0, TICKS), origin);
}

async function plainSetInterval(): Promise<number[]> {
  const c = collector();
  const origin = now();
  const handle = setInterval(() => c.tick(), PERIOD);
  await c.finished;
  clearInterval(handle);
  return againstGrid(c.times.slice(0, TICKS), origin);
}

type Which = 'loop' | 'periodic' | 'interval' | 'setInterval';
const measure: Record<Which, () => Promise<number[]>> = {
  loop: () => fixedRateLoop(PERIOD, TICKS),
  periodic,
  interval: nestInterval,
  setInterval: plainSetInterval,
};
const names: Record<Which, string> = {
  loop: `hand-written fixed-rate \`setTimeout\` loop (the limit)`,
  periodic: `\`@Periodic(${PERIOD})\``,
  interval: `\`@nestjs/schedule\` \`@Interval(${PERIOD})\``,
  setInterval: `plain \`setInterval(fn, ${PERIOD})\``,
};

export async function run(): Promise<BenchResult> {
  const order: Which[] = ['loop', 'periodic', 'interval', 'setInterval'];
  const rounds: Record<Which, number[][]> = { loop: [], periodic: [], interval: [], setInterval: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < order.length; i++) {
      const which = order[(i + r) % order.length]; // a different order each round
      gc();
      rounds[which].push(await measure[which]());
    }
  }
  const all = (which: Which) => rounds[which].flat();
  const perRound = (which: Which, f: (l: number[]) => number) => rounds[which].map(f);
  const p = (q: number) => (l: number[]) => percentile(l, q);
  const last = (l: number[]) => l[l.length - 1];
  const row = (which: Which) => [
    names[which],
    fmt(percentile(all(which), 50)),
    fmt(percentile(all(which), 99)),
    spread(perRound(which, p(50))),
    spread(perRound(which, p(99))),
    fmt(Math.max(...all(which))),
    spread(perRound(which, last)),
  ];
  const p50Gap = percentile(all('periodic'), 50) - percentile(all('loop'), 50);
  const p99Gap = percentile(all('periodic'), 99) - percentile(all('loop'), 99);
  const periodicP99 = percentile(all('periodic'), 99);
  const total = TICKS * ROUNDS;
  return {
    title: '1. Schedule accuracy',
    method:
      `${TICKS} ticks at ${PERIOD} ms per scheduler and round, ${ROUNDS} rounds, the four one after the other in one process ` +
      '(a different order each round, a full GC before each). Lateness of a tick = its time (`performance.timeOrigin + performance.now()`) ' +
      `− its slot: \`ctx.scheduledAt\` for \`@Periodic\` (its grid, start + k·${PERIOD} ms), origin + k·${PERIOD} ms for the others, ` +
      'so drift accumulates into it. Negative: the timer fired before its slot (Node runs timers on a whole-millisecond loop clock). ' +
      `The targets are judged on p50 and p99 over all ${total.toLocaleString()} ticks of each scheduler; the per-round columns show the spread.`,
    markdown:
      table(
        ['scheduler', `p50, all ticks (ms)`, `p99, all ticks (ms)`, 'p50 per round', 'p99 per round', 'max (ms)', 'last tick per round'],
        (['loop', 'periodic', 'interval', 'setInterval'] as const).map(row),
      ) +
      `\n\n\`@Periodic\` − the hand-written loop: p50 ${signed(p50Gap)} ms, p99 ${signed(p99Gap)} ms.`,
    targets: [
      {
        target: `\`@Periodic\` p50 lateness within ±${P50_MARGIN_MS} ms of a hand-written fixed-rate loop (all ticks)`,
        measured: `${fmt(percentile(all('periodic'), 50))} vs ${fmt(percentile(all('loop'), 50))} ms (${signed(p50Gap)} ms)`,
        met: Math.abs(p50Gap) <= P50_MARGIN_MS,
        gap: Math.abs(p50Gap) <= P50_MARGIN_MS ? undefined : `p50 per round: ${spread(perRound('periodic', p(50)))} vs ${spread(perRound('loop', p(50)))} ms`,
      },
      {
        target: `\`@Periodic\` p99 lateness no more than ${P99_MARGIN_MS} ms above a hand-written fixed-rate loop (all ticks)`,
        measured: `${fmt(periodicP99)} vs ${fmt(percentile(all('loop'), 99))} ms (${signed(p99Gap)} ms)`,
        met: p99Gap <= P99_MARGIN_MS,
        gap: p99Gap <= P99_MARGIN_MS ? undefined : `p99 per round: ${spread(perRound('periodic', p(99)))} vs ${spread(perRound('loop', p(99)))} ms`,
      },
      {
        target: '`@Periodic` p99 lateness < 2 ms over all ticks (no drift, where `setInterval` accumulates)',
        measured: `${fmt(periodicP99)} ms (setInterval's last tick: ${fmt(median(perRound('setInterval', last)))} ms)`,
        met: periodicP99 < 2,
        gap: periodicP99 < 2 ? undefined : `p99 per round: ${spread(perRound('periodic', p(99)))} ms`,
      },
    ],
  };
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n))}`;
}
