/**
 * One measurement of figure 16 (scale.bench.ts), in a Node process of its own: an app with N
 * periodic tasks (nest-hosting, nest-hosting with `spreadMs`, @nestjs/schedule, or none: the empty
 * app), idle or ticking; or an app with M queues (memory queues and their floor, the BullMQ backend,
 * raw BullMQ). Which one: the SCALE_CASE environment variable (JSON, a `ScaleCase`).
 *
 * Providers are split across modules of at most `PROVIDERS_PER_MODULE` (a single Nest module
 * overflows Nest's own stack near 10,000–15,000 providers), imported by the app module.
 */
import 'reflect-metadata';
import { Injectable, Module, type DynamicModule, type INestApplicationContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import type { Redis as IORedis } from 'ioredis';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { HostingModule, HostingRegistry, Periodic, QueueWorker, type HostingOptions, type TickContext } from '../src/index.js';
import { percentile, sized, sleep } from './bench-result.js';

/** `empty`: N provider classes without a scheduler (the floor); `schedule`: `@Interval` on @nestjs/schedule; `hosting`: `@Periodic`; `spread`: `@Periodic` under `forRoot({ spreadMs: period })`. */
export type TaskLib = 'empty' | 'schedule' | 'hosting' | 'spread';
/** `idle`: nothing due in the window (period of an hour); `ticking`: every task due every `TICK_PERIOD_MS`. */
export type TaskMode = 'idle' | 'ticking';
/**
 * `floor`: `HostingModule.forRoot()` and M provider classes, no queue; `memory`: M memory queues, each
 * with a `@QueueWorker`; `bullmq`: M queues on the BullMQ backend, each with a `@QueueWorker`; `raw`:
 * M BullMQ `Queue`s and M `Worker`s with a no-op processor, no Nest.
 */
export type QueueLib = 'floor' | 'memory' | 'bullmq' | 'raw';

export type ScaleCase =
  | { part: 'tasks'; lib: TaskLib; mode: TaskMode; n: number; seconds: number }
  | { part: 'queues'; lib: QueueLib; m: number; seconds: number; redisUrl?: string };

export interface TaskFigure {
  /** NestFactory.createApplicationContext + app.init. */
  startMs: number;
  closeMs: number;
  /** After a forced GC at the end of the window. */
  rssBytes: number;
  heapBytes: number;
  /** (user + system CPU) per second of wall time over the window. */
  cpuMsPerS: number;
  /** Ticking: ticks handled in the window, and the window's CPU per tick. */
  ticks: number;
  cpuUsPerTick: number;
  /** Ticking: handler start minus the tick's scheduled instant (nest-hosting: `ctx.scheduledAt`; @nestjs/schedule: created + k × period for its k-th run), over the window's ticks. */
  latenessP50Ms: number;
  latenessP99Ms: number;
  /** Collections seen in the window. */
  windowGcs: number;
  windowMajorGcs: number;
}

export interface QueueFigure {
  /** Floor and memory: createApplicationContext + init. BullMQ: until every worker is ready (library: app.init, then every queue's connections up; raw: every `waitUntilReady`). */
  startMs: number;
  /** Library on BullMQ: app.init alone. */
  initMs?: number;
  closeMs: number;
  rssBytes: number;
  heapBytes: number;
  cpuMsPerS: number;
  /** BullMQ: Redis connections this app holds while idle (`connected_clients` of `INFO clients` after the window minus before the start, read on a probe connection of its own). */
  connections?: number;
  /** BullMQ: the client names of those connections, grouped: name (`''` for unnamed) → count. */
  connectionNames?: Record<string, number>;
  windowGcs: number;
  windowMajorGcs: number;
}

/** At most this many providers (and queue modules) per `@Module`. */
export const PROVIDERS_PER_MODULE = 500;
/** Idle mode: an hour, nothing is due in the window. */
export const IDLE_PERIOD_MS = 3_600_000;
/** Ticking mode. */
export const TICK_PERIOD_MS = sized(1_000, 100);
/**
 * After start-up and a forced GC, before the window: start-up work settles. Ticking: every task has
 * ticked ten times (spread included), so that V8 has compiled the tick path of each library with its
 * optimising tier and the window sees the steady state a long-running app runs in (at 1,000 tasks,
 * 2.5 s left nest-hosting's tick path still being optimised inside the window).
 */
export const SETTLE_IDLE_MS = sized(1_500, 200);
export const SETTLE_TICKING_MS = sized(10_000, 300);

/** Wall time with sub-millisecond precision. */
const wallNow = () => performance.timeOrigin + performance.now();

// ---- what the handlers record -----------------------------------------------------------------

let ticks = 0;
let recording = false;
let samples = new Float64Array(0);
let sampleCount = 0;
/** @nestjs/schedule: when each task's interval was created (wall ms), and its runs so far, by task index. */
let createdAt = new Float64Array(0);
let runsOf = new Uint32Array(0);
/** @nestjs/schedule: the intervals created so far → their creation instant (read once after start-up, then cleared). */
const intervalCreated = new Map<unknown, number>();

/**
 * Every `setInterval` of this process records the instant it was created, before @nestjs/schedule is
 * loaded (its orchestrator calls `setInterval(target, timeout)` for each `@Interval` at bootstrap). The
 * returned timer is Node's own: nothing is added to a tick's path.
 */
function recordIntervalCreation(): void {
  const real = globalThis.setInterval;
  const recorded = function (this: unknown, ...args: Parameters<typeof setInterval>) {
    const created = wallNow();
    const ref = real.apply(this, args);
    intervalCreated.set(ref, created);
    return ref;
  };
  globalThis.setInterval = Object.assign(recorded, real) as typeof setInterval;
}

type Decorate = (proto: object, method: string, descriptor: PropertyDescriptor) => void;

/** A provider class named `name` with `method` as its `tick` / `handle`, decorated programmatically (as a decorator would be). */
function providerClass(name: string, methodName: string, method: (...args: never[]) => unknown, decorate?: Decorate): Type {
  class Provider {}
  Object.defineProperty(Provider, 'name', { value: name });
  Object.defineProperty(Provider.prototype, methodName, { value: method, writable: true, configurable: true, enumerable: false });
  if (decorate) decorate(Provider.prototype, methodName, Object.getOwnPropertyDescriptor(Provider.prototype, methodName)!);
  Injectable()(Provider);
  return Provider;
}

/** The providers (and modules they need) split into modules of at most PROVIDERS_PER_MODULE, for the app module to import. */
function chunkModules(prefix: string, providers: Type[], imports: DynamicModule[] = []): Type[] {
  const modules: Type[] = [];
  const count = Math.max(Math.ceil(providers.length / PROVIDERS_PER_MODULE), Math.ceil(imports.length / PROVIDERS_PER_MODULE));
  for (let k = 0; k < count; k++) {
    class Chunk {}
    Object.defineProperty(Chunk, 'name', { value: `${prefix}Module${k}` });
    Module({
      imports: imports.slice(k * PROVIDERS_PER_MODULE, (k + 1) * PROVIDERS_PER_MODULE),
      providers: providers.slice(k * PROVIDERS_PER_MODULE, (k + 1) * PROVIDERS_PER_MODULE),
    })(Chunk);
    modules.push(Chunk);
  }
  return modules;
}

function appModule(imports: Array<Type | DynamicModule>): Type {
  class AppModule {}
  Module({ imports })(AppModule);
  return AppModule;
}

/** CPU, wall time and collections over a window of `seconds`. */
async function idleWindow(seconds: number): Promise<{ cpuMs: number; wallMs: number; gcs: number; majorGcs: number }> {
  let gcs = 0;
  let majorGcs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcs++;
      if ((entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(seconds * 1_000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - w0;
  // Entries are delivered on a later turn.
  await sleep(10);
  observer.disconnect();
  return { cpuMs: (cpu.user + cpu.system) / 1_000, wallMs, gcs, majorGcs };
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();

function memory(): { rssBytes: number; heapBytes: number } {
  gc();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapBytes: usage.heapUsed };
}

async function timedClose(app: { close(): Promise<void> }): Promise<number> {
  const t = performance.now();
  await app.close();
  return performance.now() - t;
}

// ---- tasks --------------------------------------------------------------------------------------

async function measureTasks(lib: TaskLib, mode: TaskMode, n: number, seconds: number): Promise<TaskFigure> {
  // Before @nestjs/schedule is loaded (in every case, so that each process holds the same code).
  recordIntervalCreation();
  const schedule = await import('@nestjs/schedule');
  const periodMs = mode === 'idle' ? IDLE_PERIOD_MS : TICK_PERIOD_MS;
  createdAt = new Float64Array(n);
  runsOf = new Uint32Array(n);
  if (mode === 'ticking') samples = new Float64Array(Math.ceil(n * ((seconds * 1_000) / periodMs + 2)));

  const providers: Type[] = [];
  for (let i = 0; i < n; i++) {
    if (lib === 'schedule' || lib === 'empty') {
      // No scheduled instant on @nestjs/schedule: the k-th run of a task stands for the k-th instant of
      // its interval's nominal grid, created + k × period (k counted, not rounded from the elapsed time:
      // drift beyond half a period would otherwise fold back onto the grid).
      const tick = function (): void {
        const start = wallNow();
        ticks++;
        const k = ++runsOf[i];
        if (recording && sampleCount < samples.length) samples[sampleCount++] = start - (createdAt[i] + k * periodMs);
      };
      providers.push(providerClass(`Task${i}`, 'tick', tick, lib === 'schedule' ? (schedule.Interval(`t${i}`, periodMs) as Decorate) : undefined));
    } else {
      const tick = function (ctx: TickContext): void {
        const start = wallNow();
        ticks++;
        if (recording && sampleCount < samples.length) samples[sampleCount++] = start - ctx.scheduledAt.getTime();
      };
      providers.push(providerClass(`Task${i}`, 'tick', tick, Periodic(periodMs, { name: `t${i}` }) as Decorate));
    }
  }
  // `spreadMs`: a per-task offset in [0, spreadMs) added to each tick's due time (the option is new: typed loosely here).
  const spreadOptions: Record<string, unknown> = { spreadMs: periodMs };
  const root =
    lib === 'schedule' ? [schedule.ScheduleModule.forRoot()] : lib === 'hosting' ? [HostingModule.forRoot()] : lib === 'spread' ? [HostingModule.forRoot(spreadOptions as HostingOptions)] : [];

  const t0 = performance.now();
  const app = await NestFactory.createApplicationContext(appModule([...root, ...chunkModules('Tasks', providers)]), { logger: false });
  await app.init();
  const startMs = performance.now() - t0;

  if (lib === 'schedule') {
    const registry = app.get(schedule.SchedulerRegistry);
    for (let i = 0; i < n; i++) {
      const created = intervalCreated.get(registry.getInterval(`t${i}`));
      if (created === undefined) throw new Error(`scale.case.ts: the interval of task t${i} was not seen created`);
      createdAt[i] = created;
    }
  }
  intervalCreated.clear();

  gc(); // start-up garbage, collected before the settle so that its sweeping is not billed to the window
  await sleep(mode === 'idle' ? SETTLE_IDLE_MS : SETTLE_TICKING_MS);
  ticks = 0;
  sampleCount = 0;
  recording = mode === 'ticking';
  const window = await idleWindow(seconds);
  recording = false;
  const windowTicks = ticks;
  if (mode === 'ticking' && windowTicks === 0) throw new Error(`scale.case.ts: no tick in the ${seconds} s window (${lib}, ${n} tasks)`);
  const lateness = Array.from(samples.subarray(0, sampleCount));
  const { rssBytes, heapBytes } = memory();
  const closeMs = await timedClose(app);
  return {
    startMs,
    closeMs,
    rssBytes,
    heapBytes,
    cpuMsPerS: (window.cpuMs / window.wallMs) * 1_000,
    ticks: windowTicks,
    cpuUsPerTick: windowTicks > 0 ? (window.cpuMs * 1_000) / windowTicks : 0,
    latenessP50Ms: lateness.length ? percentile(lateness, 50) : 0,
    latenessP99Ms: lateness.length ? percentile(lateness, 99) : 0,
    windowGcs: window.gcs,
    windowMajorGcs: window.majorGcs,
  };
}

// ---- queues -------------------------------------------------------------------------------------

/** An app with M queue providers; `backend` none: the floor (providers without `@QueueWorker`, no queue). */
function queueApp(m: number, backend: 'memory' | 'bullmq' | undefined, forRoot: HostingOptions): Type {
  const providers: Type[] = [];
  const queues: DynamicModule[] = [];
  for (let i = 0; i < m; i++) {
    const name = `scale-${i}`;
    const handle = async function (): Promise<void> {};
    providers.push(providerClass(`Consumer${i}`, 'handle', handle, backend ? (QueueWorker(name) as Decorate) : undefined));
    if (backend) queues.push(HostingModule.registerQueue({ name, ...(backend === 'bullmq' && { backend: { type: 'bullmq' } }) }));
  }
  return appModule([HostingModule.forRoot(forRoot), ...chunkModules('Queues', providers, queues)]);
}

async function clientsOf(probe: IORedis): Promise<number> {
  const info = await probe.info('clients');
  const match = /connected_clients:(\d+)/.exec(info);
  if (!match) throw new Error(`scale.case.ts: no connected_clients in INFO clients: ${info}`);
  return Number(match[1]);
}

async function clientNames(probe: IORedis): Promise<Record<string, number>> {
  const list = (await probe.call('CLIENT', 'LIST')) as string;
  const names: Record<string, number> = {};
  for (const line of list.split('\n').filter(Boolean)) {
    // Group BullMQ's names by kind: `bull:<base64 queue name>` (a worker's blocking connection) and its `:w:…` suffixes.
    const name = (/ name=(\S*)/.exec(line)?.[1] ?? '').replace(/^(bull:)[A-Za-z0-9+/=]+/, '$1<queue>');
    names[name] = (names[name] ?? 0) + 1;
  }
  return names;
}

async function measureQueues(lib: QueueLib, m: number, seconds: number, redisUrl?: string): Promise<QueueFigure> {
  let probe: IORedis | undefined;
  let baseline = 0;
  if (lib === 'bullmq' || lib === 'raw') {
    if (!redisUrl) throw new Error('scale.case.ts: a BullMQ case needs redisUrl');
    const { Redis } = await import('ioredis');
    probe = new Redis(redisUrl);
    baseline = await clientsOf(probe); // the probe itself (and nothing else: the bench waits for an empty server)
  }

  let app: INestApplicationContext | undefined;
  let raw: { queues: BullQueue[]; workers: BullWorker[] } | undefined;
  let initMs: number | undefined;
  const t0 = performance.now();
  if (lib === 'raw') {
    const { Queue, Worker } = await import('bullmq');
    const url = new URL(redisUrl!);
    const connection = { host: url.hostname, port: Number(url.port) };
    raw = { queues: [], workers: [] };
    for (let i = 0; i < m; i++) {
      const queue = new Queue(`scale-${i}`, { connection });
      const worker = new Worker(`scale-${i}`, async () => undefined, { connection });
      queue.on('error', () => undefined);
      worker.on('error', () => undefined);
      raw.queues.push(queue);
      raw.workers.push(worker);
    }
    await Promise.all([...raw.queues.map((q) => q.waitUntilReady()), ...raw.workers.map((w) => w.waitUntilReady())]);
  } else {
    const forRoot: HostingOptions = lib === 'bullmq' ? { redis: redisUrl } : {};
    app = await NestFactory.createApplicationContext(queueApp(m, lib === 'floor' ? undefined : lib, forRoot), { logger: false });
    await app.init();
    initMs = performance.now() - t0;
    if (lib === 'bullmq') {
      // Workers start after init, as their connections come up: ready once every queue's connections are.
      const registry = app.get(HostingRegistry);
      const ready = () => {
        const queues = registry.list().filter((s) => s.kind === 'queue');
        return queues.length === m && queues.every((s) => (s.connections?.length ?? 0) >= 2 && s.connections!.every((c) => c.state === 'up'));
      };
      const deadline = performance.now() + 60_000;
      while (!ready()) {
        if (performance.now() > deadline) throw new Error(`scale.case.ts: the ${m} BullMQ queues were not all up within 60 s`);
        await sleep(1);
      }
    }
  }
  const startMs = performance.now() - t0;

  gc();
  await sleep(SETTLE_IDLE_MS);
  const window = await idleWindow(seconds);
  const { rssBytes, heapBytes } = memory();
  let connections: number | undefined;
  let connectionNames: Record<string, number> | undefined;
  if (probe) {
    connections = (await clientsOf(probe)) - baseline;
    connectionNames = await clientNames(probe);
  }
  const closeMs = await timedClose({
    close: async () => {
      if (app) await app.close();
      if (raw) {
        await Promise.all(raw.workers.map((w) => w.close()));
        await Promise.all(raw.queues.map((q) => q.close()));
      }
    },
  });
  await probe?.quit();
  return {
    startMs,
    ...(initMs !== undefined && lib === 'bullmq' && { initMs }),
    closeMs,
    rssBytes,
    heapBytes,
    cpuMsPerS: (window.cpuMs / window.wallMs) * 1_000,
    ...(connections !== undefined && { connections, connectionNames }),
    windowGcs: window.gcs,
    windowMajorGcs: window.majorGcs,
  };
}

export async function run(): Promise<TaskFigure | QueueFigure> {
  const raw = process.env.SCALE_CASE;
  if (!raw) throw new Error('scale.case.ts: set SCALE_CASE (scale.bench.ts does)');
  const which = JSON.parse(raw) as ScaleCase;
  return which.part === 'tasks' ? measureTasks(which.lib, which.mode, which.n, which.seconds) : measureQueues(which.lib, which.m, which.seconds, which.redisUrl);
}
