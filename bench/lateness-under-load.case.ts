/**
 * One measurement of figure 8 (lateness-under-load.bench.ts), in a process of its own: the
 * lateness of each tick of a 50 ms schedule while the event loop runs 5 ms synchronous chunks
 * with a random 0–10 ms between them (the same sequence for every scheduler of a round: the seed
 * LATENESS_SEED). Which scheduler: LATENESS_CASE; how long: LATENESS_SECONDS.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HostingModule, Periodic, type TickContext } from '../src/index.js';
import { fixedRateLoop } from './fixed-rate-loop.js';

/**
 * `periodic`: `@Periodic(50)` (slot: `ctx.scheduledAt`); `loop`: the hand-written fixed-rate
 * `setTimeout` loop (bench/fixed-rate-loop.ts); `setInterval`: `setInterval(fn, 50)` (slot: start + k·50).
 */
export type LatenessCase = 'periodic' | 'loop' | 'setInterval';
export const LATENESS_CASES: readonly LatenessCase[] = ['loop', 'periodic', 'setInterval'];

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
/** The gap between two chunks is uniform in [0, MAX_GAP_MS): the loop is busy about half the time. */
export const MAX_GAP_MS = 10;

/** High-resolution epoch milliseconds (the monotonic clock, anchored at process start). */
const now = () => performance.timeOrigin + performance.now();

/** mulberry32: a small seeded generator, so that every scheduler of a round meets the same load. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Synchronous 5 ms chunks with a random gap (0–10 ms) between them, laid out from `origin`, one of
 * the schedule's slots (`performance.now()` time): chunk i is due at origin + Σ (5 ms + gap). Every
 * scheduler of a round gets the same seed and starts the load at one of its own slots, so each
 * meets the same load at the same point of its grid (a paired comparison), and the load is not
 * locked to the grid's phase (a fixed 10 ms load would hit a 50 ms grid at the same point of every
 * period). Counts the time it kept the loop busy.
 */
function startLoad(seed: number, origin: number) {
  const next = random(seed);
  let busyMs = 0;
  let dueAt = origin;
  let handle: NodeJS.Timeout;
  const arm = () => {
    dueAt += BUSY_MS + next() * MAX_GAP_MS;
    handle = setTimeout(chunk, dueAt - performance.now());
  };
  const chunk = () => {
    const start = performance.now();
    const end = start + BUSY_MS;
    while (performance.now() < end); // the event loop is blocked for BUSY_MS
    busyMs += performance.now() - start;
    arm();
  };
  arm();
  return { stop: () => clearTimeout(handle), busyMs: () => busyMs };
}

type Load = ReturnType<typeof startLoad>;

function collector(ticks: number) {
  const lateness: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return { lateness, finished, add: (late: number) => lateness.push(late) === ticks && done() };
}

/**
 * `@Periodic(50)`: the load starts at the first tick's slot (that tick is not counted, as the other
 * schedulers' slot 0 is not a tick), so the next ticks meet it where the other schedulers' do.
 */
async function periodic(ticks: number, startLoadAt: (origin: number) => Load): Promise<{ lateness: number[]; load: Load }> {
  const c = collector(ticks);
  let load: Load | undefined;
  @Injectable()
  class Job {
    @Periodic(PERIOD, { name: 'under-load' })
    tick(ctx: TickContext) {
      const late = now() - ctx.scheduledAt.getTime();
      if (load) c.add(late);
      else load = startLoadAt(ctx.scheduledAt.getTime() - performance.timeOrigin);
    }
  }
  @Module({ imports: [HostingModule.forRoot()], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await c.finished;
  await app.close();
  return { lateness: c.lateness.slice(0, ticks), load: load! };
}

async function loop(ticks: number, startLoadAt: (origin: number) => Load): Promise<{ lateness: number[]; load: Load }> {
  let load!: Load;
  const lateness = await fixedRateLoop(PERIOD, ticks, (origin) => (load = startLoadAt(origin)));
  return { lateness, load };
}

async function plainSetInterval(ticks: number, startLoadAt: (origin: number) => Load): Promise<{ lateness: number[]; load: Load }> {
  const c = collector(ticks);
  let k = 0;
  const origin = performance.now();
  const load = startLoadAt(origin);
  const handle = setInterval(() => c.add(performance.now() - (origin + ++k * PERIOD)), PERIOD);
  await c.finished;
  clearInterval(handle);
  return { lateness: c.lateness.slice(0, ticks), load };
}

const schedulers = { periodic, loop, setInterval: plainSetInterval };

export async function run(): Promise<LatenessFigure> {
  const which = process.env.LATENESS_CASE as LatenessCase | undefined;
  if (!which || !LATENESS_CASES.includes(which)) throw new Error(`lateness-under-load.case.ts: set LATENESS_CASE to ${LATENESS_CASES.join(', ')} (lateness-under-load.bench.ts does)`);
  const ticks = Math.round((Number(process.env.LATENESS_SECONDS ?? 20) * 1_000) / PERIOD);
  const seed = Number(process.env.LATENESS_SEED ?? 1);
  let t0 = 0;
  const startLoadAt = (origin: number) => {
    t0 = origin;
    return startLoad(seed, origin);
  };
  const shift0 = Date.now() - now();
  const { lateness, load } = await schedulers[which](ticks, startLoadAt);
  const loadPercent = (load.busyMs() / (performance.now() - t0)) * 100;
  const clockShiftMs = Date.now() - now() - shift0;
  load.stop();
  return { lateness, loadPercent, clockShiftMs };
}
