/**
 * One measurement of figure 8 (lateness-under-load.bench.ts), in a process of its own: the
 * lateness of each tick of a 50 ms schedule while the event loop runs a 5 ms synchronous chunk
 * every 10 ms. Which scheduler: LATENESS_CASE; how long: LATENESS_SECONDS.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HostingModule, Periodic, type TickContext } from '../src/index.js';
import { sleep } from './bench-result.js';

/** `periodic`: `@Periodic(50)` (slot: `ctx.scheduledAt`); `setInterval`: `setInterval(fn, 50)` (slot: start + k·50). */
export type LatenessCase = 'periodic' | 'setInterval';

export interface LatenessFigure {
  /** Lateness of each tick in ms: its time minus its slot. */
  lateness: number[];
  /** Share of the measured wall time the load kept the event loop busy, in %. */
  loadPercent: number;
  /** How far the wall clock (Date.now, which `scheduledAt` is on) moved against the monotonic clock during the run, in ms. */
  clockShiftMs: number;
}

export const PERIOD = 50;
export const BUSY_MS = 5;
export const LOAD_EVERY_MS = 10;

/** High-resolution epoch milliseconds (the monotonic clock, anchored at process start). */
const now = () => performance.timeOrigin + performance.now();

/** A synchronous 5 ms chunk every 10 ms; it counts the time it kept the loop busy. */
function startLoad() {
  let busyMs = 0;
  const handle = setInterval(() => {
    const start = performance.now();
    const end = start + BUSY_MS;
    while (performance.now() < end); // the event loop is blocked for BUSY_MS
    busyMs += performance.now() - start;
  }, LOAD_EVERY_MS);
  return { stop: () => clearInterval(handle), busyMs: () => busyMs };
}

function collector(ticks: number) {
  const lateness: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return { lateness, finished, add: (late: number) => lateness.push(late) === ticks && done() };
}

async function periodic(ticks: number): Promise<number[]> {
  const c = collector(ticks);
  @Injectable()
  class Job {
    @Periodic(PERIOD, { name: 'under-load' })
    tick(ctx: TickContext) {
      c.add(now() - ctx.scheduledAt.getTime());
    }
  }
  @Module({ imports: [HostingModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await c.finished;
  await app.close();
  return c.lateness.slice(0, ticks);
}

async function plainSetInterval(ticks: number): Promise<number[]> {
  const c = collector(ticks);
  let k = 0;
  const origin = now();
  const handle = setInterval(() => c.add(now() - (origin + ++k * PERIOD)), PERIOD);
  await c.finished;
  clearInterval(handle);
  return c.lateness.slice(0, ticks);
}

export async function run(): Promise<LatenessFigure> {
  const which = process.env.LATENESS_CASE as LatenessCase | undefined;
  if (which !== 'periodic' && which !== 'setInterval') throw new Error('lateness-under-load.case.ts: set LATENESS_CASE to periodic or setInterval (lateness-under-load.bench.ts does)');
  const ticks = Math.round((Number(process.env.LATENESS_SECONDS ?? 20) * 1_000) / PERIOD);
  const load = startLoad();
  await sleep(200); // the load is running before the schedule starts
  const busy0 = load.busyMs();
  const shift0 = Date.now() - now();
  const t0 = performance.now();
  const lateness = which === 'periodic' ? await periodic(ticks) : await plainSetInterval(ticks);
  const loadPercent = ((load.busyMs() - busy0) / (performance.now() - t0)) * 100;
  const clockShiftMs = Date.now() - now() - shift0;
  load.stop();
  return { lateness, loadPercent, clockShiftMs };
}
