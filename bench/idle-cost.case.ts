/**
 * One measurement of figure 7 (idle-cost.bench.ts), in a process of its own: the CPU an app
 * spends while 1,000 interval tasks and 1,000 cron tasks wait, none of them due in the window.
 * Which app: the IDLE_CASE environment variable; how long: IDLE_SECONDS.
 */
import 'reflect-metadata';
import { Injectable, Module, type Type } from '@nestjs/common';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import { Cron, Interval, ScheduleModule } from '@nestjs/schedule';
import { HostingModule, Periodic } from '../src/index.js';
import { sized, sleep } from './bench-result.js';

/** `empty`: a Nest app with nothing in it; `schedule`: the tasks on @nestjs/schedule; `hosting`: on nest-hosting. */
export type IdleCase = 'empty' | 'schedule' | 'hosting';

export interface IdleFigure {
  /** (user + system CPU) / wall time over the window, in %. */
  cpuPercent: number;
  cpuMs: number;
  wallMs: number;
  /** RSS at the end of the window. */
  rssMb: number;
  /** createApplicationContext + init. */
  startMs: number;
  /** From the end of the 1 s settle to the window: until V8's one-off memory-reducing collection after start-up has run. */
  settleMs: number;
  /** CPU spent in that wait (mostly that collection). */
  settleCpuMs: number;
  /** Major collections seen in that wait. */
  settleMajorGcs: number;
  /** Collections of any kind seen in the window (none, when the window is idle). */
  windowGcs: number;
}

export const TASKS = 1_000;
/** An hour: no interval task is due within the window. */
export const INTERVAL_MS = 3_600_000;
/** Midnight on 1 January: no cron task is due within the window (on any day but 31 December). */
export const CRON = '0 0 1 1 *';
/** After start-up and a forced GC, before the window opens: start-up work settles. */
const SETTLE_MS = 1_000;
/**
 * Some seconds after start-up (5–30 s in earlier runs, 48–64 s on 2026-12-05 for both task apps: a
 * 50 s cap then let it land in most windows of both), V8's memory reducer runs one
 * or two major collections once, then none while the app stays idle. The window opens after them
 * (this long without a collection once a major one was seen), or after MAX_REDUCER_WAIT_MS.
 */
const GC_QUIET_MS = sized(3_000, 300);
export const MAX_REDUCER_WAIT_MS = sized(120_000, 1_000);

type Decorate = (proto: object, method: string, descriptor: PropertyDescriptor) => void;

/** A provider class with one `tick()` method, decorated programmatically, as a class decorator would be. */
function taskClass(name: string, decorate: Decorate): Type {
  class Task {
    tick(): void {}
  }
  Object.defineProperty(Task, 'name', { value: name });
  decorate(Task.prototype, 'tick', Object.getOwnPropertyDescriptor(Task.prototype, 'tick')!);
  Injectable()(Task);
  return Task;
}

function providers(which: IdleCase): Type[] {
  if (which === 'empty') return [];
  const out: Type[] = [];
  for (let i = 0; i < TASKS; i++) {
    out.push(
      taskClass(`IntervalTask${i}`, which === 'hosting' ? Periodic(INTERVAL_MS, { name: `interval-${i}` }) : Interval(`interval-${i}`, INTERVAL_MS)),
      taskClass(`CronTask${i}`, which === 'hosting' ? Periodic({ cron: CRON }, { name: `cron-${i}` }) : Cron(CRON, { name: `cron-${i}` })),
    );
  }
  return out;
}

async function measure(which: IdleCase, seconds: number): Promise<IdleFigure> {
  const imports = which === 'hosting' ? [HostingModule.forRoot()] : which === 'schedule' ? [ScheduleModule.forRoot()] : [];
  @Module({ imports, providers: providers(which) })
  class AppModule {}
  const t0 = performance.now();
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const startMs = performance.now() - t0;
  (globalThis as { gc?: () => void }).gc?.(); // start-up garbage, collected before the settle so that its sweeping is not billed
  await sleep(SETTLE_MS);

  let gcs: Array<{ at: number; major: boolean }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      gcs.push({ at: performance.now(), major: kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const settleCpu0 = process.cpuUsage();
  const settle0 = performance.now();
  for (;;) {
    await sleep(500);
    const lastMajor = gcs.filter((gc) => gc.major).at(-1);
    const last = gcs.at(-1);
    if (lastMajor && performance.now() - last!.at >= GC_QUIET_MS) break;
    if (performance.now() - settle0 >= MAX_REDUCER_WAIT_MS) break;
  }
  const settleCpu = process.cpuUsage(settleCpu0);
  const settleMs = performance.now() - settle0;
  const settleMajorGcs = gcs.filter((gc) => gc.major).length;
  gcs = [];

  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(seconds * 1_000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - w0;
  const rssMb = process.memoryUsage().rss / 1e6;
  // Entries are delivered on a later turn: one more turn before reading the window's.
  await sleep(10);
  const windowGcs = gcs.length;
  observer.disconnect();
  await app.close();
  const cpuMs = (cpu.user + cpu.system) / 1_000;
  return {
    cpuPercent: (cpuMs / wallMs) * 100,
    cpuMs,
    wallMs,
    rssMb,
    startMs,
    settleMs,
    settleCpuMs: (settleCpu.user + settleCpu.system) / 1_000,
    settleMajorGcs,
    windowGcs,
  };
}

export async function run(): Promise<IdleFigure> {
  const which = process.env.IDLE_CASE as IdleCase | undefined;
  if (which !== 'empty' && which !== 'schedule' && which !== 'hosting') throw new Error('idle-cost.case.ts: set IDLE_CASE to empty, schedule or hosting (idle-cost.bench.ts does)');
  const seconds = Number(process.env.IDLE_SECONDS ?? 30);
  return measure(which, seconds);
}
