/**
 * Figure 6 — overlap and shutdown behaviour, side by side with @nestjs/schedule: a task every
 * 20 ms whose run takes 100 ms; how many runs are at once, and whether close() waits for them.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { HostingModule, Periodic, type TickContext } from '../src/index.js';
import { fmt, sized, sleep, table, type BenchResult } from './bench-result.js';

/** How long each app ticks before `close()`. */
const WINDOW_MS = sized(600, 300);

interface Observed {
  maxConcurrent: number;
  runningAtCloseStart: number;
  runningAfterClose: number;
  closeMs: number;
  signalled: boolean;
}

function tracker() {
  const t = { running: 0, max: 0, signalled: false };
  const run = async (signal?: AbortSignal) => {
    t.running++;
    t.max = Math.max(t.max, t.running);
    await sleep(100);
    if (signal?.aborted) t.signalled = true;
    t.running--;
  };
  return { t, run };
}

async function observe(app: { close(): Promise<void> }, t: { running: number; max: number; signalled: boolean }): Promise<Observed> {
  await sleep(WINDOW_MS);
  const runningAtCloseStart = t.running;
  const c0 = performance.now();
  await app.close();
  const closeMs = performance.now() - c0;
  return { maxConcurrent: t.max, runningAtCloseStart, runningAfterClose: t.running, closeMs, signalled: t.signalled };
}

async function withSchedule(): Promise<Observed> {
  const { t, run } = tracker();
  @Injectable()
  class Job {
    @Interval(20)
    async tick() {
      await run();
    }
  }
  @Module({ imports: [ScheduleModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const result = await observe(app, t);
  await sleep(150); // let the abandoned runs end before the next measurement
  return result;
}

async function withHosting(): Promise<Observed> {
  const { t, run } = tracker();
  @Injectable()
  class Job {
    @Periodic(20)
    async tick(ctx: TickContext) {
      await run(ctx.signal);
    }
  }
  @Module({ imports: [HostingModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return observe(app, t);
}

export async function run(): Promise<BenchResult> {
  const schedule = await withSchedule();
  const hosting = await withHosting();
  const row = (name: string, o: Observed) => [
    name,
    o.maxConcurrent,
    o.runningAtCloseStart,
    fmt(o.closeMs, 1),
    o.runningAfterClose === 0 ? 'yes' : `no: ${o.runningAfterClose} still running`,
    o.signalled ? 'yes' : 'no',
  ];
  return {
    title: '6. Overlap and shutdown behaviour',
    method: `A task every 20 ms whose run takes 100 ms, for ${WINDOW_MS} ms, then \`app.close()\`; one run of each scheduler (no rounds: the figures are behaviour, not timings to average).`,
    markdown: table(
      ['scheduler', 'max runs at once', 'running when close() began', 'close() took (ms)', 'close() waited for running work', 'running work saw a signal'],
      [row('`@nestjs/schedule` `@Interval(20)` (anchor)', schedule), row('`@Periodic(20)`', hosting)],
    ),
    targets: [
      {
        target: 'never more than one run of a task at once',
        measured: `${hosting.maxConcurrent} (anchor: ${schedule.maxConcurrent})`,
        met: hosting.maxConcurrent === 1,
      },
      {
        target: 'close() waits for running work, which sees its signal abort',
        measured: hosting.runningAfterClose === 0 && hosting.signalled ? 'yes' : 'no',
        met: hosting.runningAfterClose === 0 && (hosting.runningAtCloseStart === 0 || hosting.signalled),
      },
    ],
  };
}
