import type { DynamicModule, ForwardReference, Provider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { HostingModule, HostingRegistry, TimeProvider, type HostingOptions } from '../../src/index.js';
import { CaptureLogger } from './capture-logger.js';

export interface HostingAppOptions {
  providers?: Provider[];
  controllers?: Type[];
  imports?: Array<Type | DynamicModule | Promise<DynamicModule> | ForwardReference>;
  hosting?: HostingOptions;
  /** Replace `HostingModule.forRoot(hosting)` (e.g. with forRootAsync). */
  hostingModule?: DynamicModule;
  /** The host's clock (a `VirtualTime`), given as the README shows: `overrideProvider(TimeProvider)`. */
  time?: TimeProvider;
}

export interface HostingApp {
  app: TestingModule;
  logger: CaptureLogger;
}

/** Compiles a real Nest application context around HostingModule; the caller calls `app.init()`. */
export async function compileHostingApp(options: HostingAppOptions): Promise<HostingApp> {
  const logger = new CaptureLogger();
  const builder = Test.createTestingModule({
    imports: [options.hostingModule ?? HostingModule.forRoot(options.hosting), ...(options.imports ?? [])],
    providers: options.providers ?? [],
    controllers: options.controllers ?? [],
  });
  if (options.time) builder.overrideProvider(TimeProvider).useValue(options.time);
  const app = await builder.setLogger(logger).compile();
  return { app, logger };
}

/**
 * Starts an app whose host runs on `time` (shutdownTimeoutMs 5 s unless `hosting` says otherwise),
 * with its registry at hand; remember to close `moduleRef`.
 */
export async function startOnTime(time: TimeProvider, options: Omit<HostingAppOptions, 'time'> = {}) {
  const { app, logger } = await startHostingApp({ ...options, hosting: { shutdownTimeoutMs: 5_000, ...options.hosting }, time });
  return { moduleRef: app, logger, registry: app.get(HostingRegistry) };
}

/** Compiles and initialises; remember to close. */
export async function startHostingApp(options: HostingAppOptions): Promise<HostingApp> {
  const started = await compileHostingApp(options);
  await started.app.init();
  return started;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` until true or `timeoutMs` passes (generous by default: tests run on a busy 2-core box). */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** `waitFor` with a predicate that needs I/O (a Redis read): polled every 20 ms. */
export async function waitForAsync(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves when `signal` aborts, at once if it already has (a service may get an aborted signal). */
export const untilAborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

/**
 * `promise`, or `otherwise` once `ms` have passed. Unlike a race with `sleep(ms)`, the timer is
 * cleared as soon as `promise` settles, so no timer outlives the test and holds the jest worker.
 */
export function within<T, U>(promise: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<U>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Closes, after each test of the enclosing `describe` (or file), the apps it started and did not
 * close (it failed first), so that no host keeps the process alive. Returns `tracked(app)`, which
 * registers an app until its own `close()` is called.
 */
export function closeLeftOpenApps(): (app: TestingModule) => TestingModule {
  const open = new Set<TestingModule>();
  afterEach(async () => {
    for (const app of [...open]) await app.close().catch(() => undefined);
    open.clear();
  });
  return (app) => {
    open.add(app);
    const close = app.close.bind(app);
    app.close = () => {
      open.delete(app);
      return close();
    };
    return app;
  };
}
