import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef, ModulesContainer } from '@nestjs/core';
import {
  BACKGROUND_SERVICE_NOT_SINGLETON,
  DUPLICATE_WORKER,
  EXCLUSIVE_NEEDS_REDIS,
  QUEUE_WITHOUT_WORKER,
  UNKNOWN_QUEUE,
  NO_SHUTDOWN_HOOKS,
  QUEUE_STOP_FAILED,
  HOST_STOPPED,
  HOST_STOPPED_PAST_DEADLINE,
  STOPPING_HOST,
  TASK_FAILED,
  QUEUE_WORKER_DISABLED,
  QUEUE_EVENT_LISTENER_NOT_SINGLETON,
  UNITS_DISABLED,
  stackOf,
} from '../hosting.messages.js';
import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { HOSTING_OPTIONS } from '../hosting.module-definition.js';
import type { HostingEnabledOptions, HostingOptions } from '../interfaces/hosting-options.interface.js';
import { DisabledUnit } from '../registry/disabled-unit.js';
import { OneShotTimer } from '../scheduling/one-shot-timer.js';
import { HostingExplorer } from '../discovery/hosting.explorer.js';
import { QueueManager } from '../queues/queue-manager.js';
import { resolveWorkerOptions } from '../queues/queue-options.validation.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { PeriodicTimer, type TickRunner } from '../scheduling/periodic-timer.js';
import type { PeriodicTaskDefinition } from '../scheduling/periodic-task-definition.js';
import type { ExclusiveTickGate } from '../distributed/exclusive-tick-gate.js';
import { exclusiveTickRunner } from '../distributed/exclusive-tick-runner.js';
import { RedisExclusiveTickGate } from '../distributed/redis-exclusive-tick-gate.js';
import { PostgresExclusiveTickGate } from '../distributed/postgres-exclusive-tick-gate.js';
import { ScopeEndHooks } from '../scopes/scope-end-hooks.js';
import { createInvoker, createTickRunner } from '../scopes/scoped-invoker.js';
import { afterAppBootstrap } from './after-app-bootstrap.js';
import { BackgroundServiceRunner } from './background-service-runner.js';
import { HostLifetime } from './host-lifetime.js';
import { bindHostingOptions } from './hosting-options.validation.js';
import { validateBackgroundServiceOptions, type ValidBackgroundServiceOptions } from '../validation/background-service-options.validation.js';
import type { HostedBackgroundService } from '../interfaces/background-service-options.interface.js';
import { awaitWithDeadline } from './shutdown-deadline.js';
import { findNestShutdownListener } from './shutdown-signals.js';
import { RunTimeUnits } from './run-time-units.js';
import { LateTaskWatcher, staleBudgetOf } from './late-task-watcher.js';
import type { HostPhase } from '../registry/run-time-tasks.js';
import type { HostedUnit } from '../registry/hosted-unit.js';
import { onWholeWallMs, TimeProvider } from '../time/time-provider.js';
import { WorkInterceptors } from '../interception/work-interceptors.js';
import { resolveInterceptors } from './resolve-interceptors.js';

/**
 * Owns the host's life: finds hosted work at module init, starts it at bootstrap, and stops it
 * within one deadline in `beforeApplicationShutdown` (so resources closed in
 * `onApplicationShutdown` are still there for work in flight).
 */
@Injectable()
export class HostingHost implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Hosting');
  private readonly shutdownTimeoutMs: number;
  private readonly options: HostingOptions;
  private stopping?: Promise<void>;
  /** Why a stop was asked for (HostLifetime.stopApplication or a failure), once one was. */
  private stopRequest?: string;
  private started = false;
  /** For units added at run time: registered until start, started at once while running, refused once stopping. */
  private phase: HostPhase = 'starting';
  private keepAlive?: NodeJS.Timeout;
  /** Stops a virtual clock from awaiting this host's work (it is registered at start). */
  private untrackIdle?: () => void;
  /** The lock of `@Periodic({ exclusive: true })` tasks (Redis, else PostgreSQL), created when there is one. */
  private exclusiveGate?: ExclusiveTickGate & { ready: Promise<void> };
  /** Missed-run alerts: one watcher over every periodic task, while the host runs. */
  private lateTasks?: LateTaskWatcher;

  constructor(
    @Inject(HOSTING_OPTIONS) options: HostingOptions,
    private readonly explorer: HostingExplorer,
    private readonly registry: HostingRegistry,
    private readonly lifetime: HostLifetime,
    private readonly moduleRef: ModuleRef,
    private readonly hooks: ScopeEndHooks,
    private readonly queues: QueueManager,
    private readonly modules: ModulesContainer,
    private readonly time: TimeProvider,
    private readonly interceptors: WorkInterceptors,
  ) {
    // Validated (and bound, for forRootAsync) already; checked again for a host given options another way.
    const valid = bindHostingOptions(options);
    this.options = valid.options;
    this.shutdownTimeoutMs = valid.resolved.shutdownTimeoutMs;
    lifetime.setStopRequester((reason) => this.requestStop(reason));
    // Set now, not at module init: a provider's own onModuleInit may add tasks before the host's runs.
    registry.setRunTimeUnitFactory(
      new RunTimeUnits({
        time,
        logger: this.logger,
        explorer,
        moduleRef,
        hooks,
        shutdownTimeoutMs: this.shutdownTimeoutMs,
        phase: () => this.phase,
        periodicUnit: (definition, run) => this.periodicUnit(definition, run),
        backgroundUnit: (name, instance, valid) => this.backgroundUnit(name, instance, valid),
        delayedUnit: (name, due, run) => this.delayedUnit(name, due, run, {}),
        launch: (unit) => this.launch(unit),
        around: (kind, name) => interceptors.around(kind, name),
      }),
    );
  }

  async onModuleInit(): Promise<void> {
    try {
      // First: every unit made below (and at run time) runs inside the chain, or, with none, costs nothing for it.
      this.interceptors.set(await resolveInterceptors(this.options.interceptors, this.explorer, this.moduleRef), this.lifetime.stopping);
      this.registerBackgroundServices();
      this.registerPeriodicTasks();
      this.registerDelayedTasks();
      this.registerQueues();
      const disabled = this.registry.units().filter((unit) => unit instanceof DisabledUnit);
      if (disabled.length) this.logger.log(UNITS_DISABLED(disabled.map((unit) => unit.name)));
      await this.exclusiveGate?.ready; // ioredis or pg missing, or tables the role may not create: fail at start-up, with guidance
    } catch (error) {
      // Nest runs no shutdown hook after a failed init (and app.close() rethrows), so the Redis
      // connections opened so far would keep reconnecting for the life of the process: close them.
      await this.closeConnections();
      throw error;
    }
  }

  /** Closes the queues' and the exclusive gate's connections (Redis); a failure is logged, not thrown. */
  private async closeConnections(): Promise<void> {
    await Promise.all(this.queues.all().map(async (q) => q.backend.dispose?.().catch((error: unknown) => this.logger.error(QUEUE_STOP_FAILED(q.name), stackOf(error)))));
    await this.exclusiveGate?.dispose();
  }

  private registerBackgroundServices(): void {
    for (const { wrapper, className, options } of this.explorer.backgroundServices()) {
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) throw new Error(BACKGROUND_SERVICE_NOT_SINGLETON(className));
      const valid = validateBackgroundServiceOptions(className, options);
      this.registry.register(this.backgroundUnit(valid.name ?? className, wrapper.instance as never, valid), className);
    }
  }

  /** The unit of one background service, decorated or added at run time: its runner, or a `DisabledUnit` when switched off here. */
  private backgroundUnit(name: string, instance: HostedBackgroundService, valid: ValidBackgroundServiceOptions): HostedUnit {
    if (!this.isEnabled('background', valid.enabled)) return new DisabledUnit(name, 'background');
    return new BackgroundServiceRunner(
      {
        name,
        instance,
        onError: valid.onError ?? this.options.onServiceError ?? 'stopHost',
        restart: valid.restart,
        around: this.interceptors.around('background', name),
      },
      this.logger,
      (reason) => this.failHost(reason),
      this.time,
    );
  }

  private registerPeriodicTasks(): void {
    // One origin for every interval grid found at start-up, as Node gives every timer armed in one
    // turn one start: tasks with the same period share their slots (one timer wake for all of them;
    // `spreadMs` places them apart), rather than falling apart by the microseconds between their
    // registrations (thousands of tasks took ~90 wakes a second instead of one).
    const origin = onWholeWallMs(this.time, this.time.monotonic());
    for (const { wrapper, methodName, definition } of this.explorer.periodicTasks()) {
      const run = createTickRunner(wrapper, methodName, this.moduleRef, this.hooks, this.interceptors.around('periodic', definition.name));
      this.registry.register(this.periodicUnit(definition, run, origin), definition.owner);
    }
  }

  /**
   * The unit of one periodic task, decorated or added at run time: its timer, or a `DisabledUnit`
   * when switched off here. `origin`: where an interval grid starts (unset: now).
   */
  private periodicUnit(definition: PeriodicTaskDefinition, run: TickRunner, origin?: number): HostedUnit {
    if (!this.isEnabled('periodic', definition.enabled)) return new DisabledUnit(definition.name, 'periodic', definition.createSchedule(this.time).describe());
    return this.createPeriodicTimer(definition, run, origin);
  }

  /** The timer of one periodic task (with the exclusive gate when it is exclusive). */
  private createPeriodicTimer(definition: PeriodicTaskDefinition, invoke: TickRunner, origin: number | undefined): PeriodicTimer {
    const { redis, postgres } = this.options;
    if (definition.exclusive && !redis && !postgres) throw new Error(EXCLUSIVE_NEEDS_REDIS(definition.owner));
    // Exclusive tasks tick on a grid anchored at epoch 0, so that every instance computes the same slots.
    const schedule = definition.createSchedule(this.time, origin);
    let run = invoke;
    const spreadMs = definition.spreadMs ?? this.options.spreadMs ?? 0;
    let lastRunSlot: (() => Promise<number | undefined>) | undefined;
    let clusterSucceededAt: (() => Promise<number | undefined>) | undefined;
    if (definition.exclusive) {
      // Redis when it is set (the default store of exclusive tasks), else PostgreSQL.
      const gate = (this.exclusiveGate ??= redis
        ? new RedisExclusiveTickGate({ connection: redis, logger: this.logger })
        : new PostgresExclusiveTickGate({ connection: postgres!, logger: this.logger }));
      const { onMissed } = definition;
      const catchUpWindowMs = typeof onMissed === 'object' ? onMissed.windowMs : undefined;
      // A spread tick is late by at most spreadMs, as a jittered one by jitterMs: the slot's claim outlives both.
      run = exclusiveTickRunner({ name: definition.name, schedule, jitterMs: definition.jitterMs + spreadMs, catchUpWindowMs, now: () => this.time.now() }, gate, run, this.logger);
      // The cluster's last run of the task, read at start: slots every instance missed are dealt with as `onMissed` says.
      lastRunSlot = async () => gate.lastRun?.(definition.name);
      // Missed-run alerts: a success on any instance counts (read by the watcher's sweep).
      clusterSucceededAt = async () => gate.lastSuccess?.(definition.name);
    }
    return new PeriodicTimer(
      definition.name,
      schedule,
      run,
      {
        ...definition,
        spreadMs,
        time: this.time,
        lastRunSlot,
        connections: definition.exclusive ? () => this.exclusiveGate?.connections?.() : undefined,
        staleBudget: staleBudgetOf(definition, this.options.staleAfterPeriods),
        hostRunning: () => this.phase !== 'stopping',
        clusterSucceededAt,
      },
      (error) => this.logger.error(TASK_FAILED('Periodic task', definition.name), stackOf(error)),
    );
  }

  /** `@Delayed` methods: each a `OneShotTimer` that runs once, its delay after the host started. */
  private registerDelayedTasks(): void {
    for (const { wrapper, methodName, definition } of this.explorer.delayedTasks()) {
      const run = createTickRunner(wrapper, methodName, this.moduleRef, this.hooks, this.interceptors.around('periodic', definition.name));
      this.registry.register(this.delayedUnit(definition.name, definition.delayMs, run, definition), definition.owner);
    }
  }

  /** The unit of one delayed task, decorated or added at run time: its one-shot timer, or a `DisabledUnit` when switched off here. */
  private delayedUnit(name: string, due: number | Date, run: TickRunner, options: { timeoutMs?: number; enabled?: boolean }): HostedUnit {
    const timer = new OneShotTimer(name, due, run, { time: this.time, timeoutMs: options.timeoutMs }, (error) => {
      this.logger.error(TASK_FAILED('Delayed task', name), stackOf(error));
    });
    return this.isEnabled('delayed', options.enabled) ? timer : new DisabledUnit(name, 'periodic', timer.describe());
  }

  /** Whether a unit runs here: its own `enabled`, and its kind's in `forRoot({ enabled })` (both default to true). */
  private isEnabled(kind: keyof HostingEnabledOptions, own: boolean | undefined): boolean {
    return own !== false && this.options.enabled?.[kind] !== false;
  }

  private registerQueues(): void {
    const bound = new Map<string, string>();
    for (const { wrapper, owner, metadata } of this.explorer.queueWorkers()) {
      const queue = this.queues.get(metadata.queue);
      if (!queue) throw new Error(UNKNOWN_QUEUE(owner, metadata.queue, this.queues.all().map((q) => q.name)));
      const first = bound.get(metadata.queue);
      if (first) throw new Error(DUPLICATE_WORKER(metadata.queue, first, owner));
      bound.set(metadata.queue, owner);
      const options = resolveWorkerOptions(owner, metadata.options);
      if (!this.isEnabled('queueWorkers', options.enabled)) {
        queue.disableWorker();
        const durable = queue.backendKind !== 'memory';
        if (durable) this.logger.log(QUEUE_WORKER_DISABLED(queue.name, owner, true));
        else this.logger.warn(QUEUE_WORKER_DISABLED(queue.name, owner, false));
        continue;
      }
      queue.bindWorker({
        invoke: createInvoker(wrapper, this.moduleRef, this.hooks, this.interceptors.around('queue', queue.name)),
        methodName: metadata.methodName,
        options,
      });
    }
    // `@OnQueueEvent` methods: checked now, subscribed when their queue starts (bootstrap), released when it stops.
    for (const { wrapper, owner, metadata } of this.explorer.queueEventListeners()) {
      const queue = this.queues.get(metadata.queue);
      if (!queue) throw new Error(UNKNOWN_QUEUE(owner, metadata.queue, this.queues.all().map((q) => q.name), '@OnQueueEvent'));
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) throw new Error(QUEUE_EVENT_LISTENER_NOT_SINGLETON(owner));
      const instance = wrapper.instance as Record<string | symbol, (event: unknown) => unknown>;
      const { methodName } = metadata;
      queue.bindEventListener(metadata.events, (event) => instance[methodName]!(event), owner);
    }
    for (const queue of this.queues.all()) {
      if (!queue.hasWorker && !queue.workerDisabled) this.logger.warn(QUEUE_WITHOUT_WORKER(queue.name));
      this.registry.register(queue, `HostingModule.registerQueue({ name: '${queue.name}' })`);
    }
  }

  /**
   * Hosted work starts once every module's `onApplicationBootstrap` hook has settled (the app's own
   * included: HostingModule is global, so Nest calls this hook among the first), as .NET starts
   * hosted services after the app is built.
   */
  onApplicationBootstrap(): void {
    if (!afterAppBootstrap(this.modules, () => this.start())) this.start();
  }

  private start(): void {
    const earlyStop = this.stopRequest;
    if (earlyStop === undefined) {
      this.untrackIdle = this.time.trackIdle(() => this.registry.busyWork());
      this.phase = 'running'; // a unit added by one starting now is started at once (launch)
      for (const unit of this.registry.units()) unit.start();
      this.lateTasks = new LateTaskWatcher(this.time, this.logger, this.registry);
      this.lateTasks.start();
      this.holdProcess();
    }
    this.started = true;
    this.lifetime.notifyStarted();
    if (earlyStop !== undefined) {
      // A stop requested before the host started wins (.NET: StopAsync before StartAsync): nothing
      // registered starts, and the app is closed once main.ts has had its turn to enableShutdownHooks().
      void this.stopHostedWork(earlyStop);
      setImmediate(() => this.closeApp(earlyStop));
    }
  }

  beforeApplicationShutdown(signal?: string): Promise<void> {
    return this.stopHostedWork(signal ? `received ${signal}` : 'the application is closing');
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    // Connections (Redis) close only now, after the drain, so in-flight work could still use them.
    await this.closeConnections();
    this.releaseProcess();
    this.untrackIdle?.();
    this.lifetime.notifyStopped();
    // Nest re-raises the signal after its hooks, which would end the process by that signal;
    // like .NET, exit with the code instead (0, or 1 after a stopHost failure).
    if (signal && this.options.exitAfterSignal !== false) process.once(signal, () => process.exit());
  }

  /** Signals all running work at once and awaits it together, up to the shutdown deadline. Idempotent. */
  stopHostedWork(reason: unknown): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopping';
      this.lateTasks?.stop();
      const startedAt = performance.now();
      this.lifetime.notifyStopping(reason);
      const units = this.registry.units();
      const queueItemsDone = () =>
        units.reduce((sum, unit) => {
          const { processed = 0, failed = 0 } = unit.kind === 'queue' ? unit.status() : {};
          return sum + processed + failed;
        }, 0);
      const doneBefore = queueItemsDone();
      let undelivered = 0;
      const deadline = new AbortController();
      const work = units.flatMap((unit) => {
        const settled = unit.stop({ reason, deadline: deadline.signal });
        if (!settled) return [];
        const counted = settled.then((result) => {
          undelivered += (result as { undelivered?: number } | undefined)?.undelivered ?? 0;
        });
        return [{ name: unit.name, settled: counted }];
      });
      const abandoned = await awaitWithDeadline(work, this.shutdownTimeoutMs);
      deadline.abort();
      this.releaseProcess();
      const summary = {
        elapsedMs: Math.round(performance.now() - startedAt),
        background: units.filter((u) => u.kind === 'background').length,
        periodic: units.filter((u) => u.kind === 'periodic').length,
        queues: units.filter((u) => u.kind === 'queue').length,
        drained: queueItemsDone() - doneBefore,
      };
      // One line either way, so that a log tells a clean stop from one that gave up on work (or a crash: none).
      if (abandoned.length) this.logger.error(HOST_STOPPED_PAST_DEADLINE(this.shutdownTimeoutMs, abandoned, summary));
      else this.logger.log(HOST_STOPPED({ ...summary, undelivered }));
    })();
    return this.stopping;
  }

  /**
   * While hosted work runs, the host keeps the process alive (as .NET's `RunAsync`): work that only
   * awaits promises (a service awaiting its signal, an idle queue worker) holds no handle of its
   * own, and Node would exit under it without running any shutdown hook.
   */
  private holdProcess(): void {
    const busy = this.registry
      .units()
      .some((unit) => !(unit instanceof DisabledUnit) && (unit.kind !== 'queue' || this.queues.get(unit.name)?.hasWorker));
    if (busy) this.keepAlive = setInterval(() => undefined, MAX_TIMER_DELAY_MS);
  }

  /** Starts a unit added through `HostingRegistry` while the host runs, and holds the process for it. */
  private launch(unit: HostedUnit): void {
    unit.start();
    this.lateTasks?.wake();
    if (!this.keepAlive && !(unit instanceof DisabledUnit)) this.keepAlive = setInterval(() => undefined, MAX_TIMER_DELAY_MS);
  }

  private releaseProcess(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private failHost(reason: string): void {
    process.exitCode = 1;
    this.requestStop(reason);
  }

  private requestStop(reason: string): void {
    if (this.stopRequest !== undefined || this.stopping) return;
    this.stopRequest = reason;
    this.phase = 'stopping';
    this.logger.warn(STOPPING_HOST(reason));
    if (this.started) this.closeApp(reason);
    else this.lifetime.notifyStopping(reason); // before start: remembered, and it wins at bootstrap
  }

  /** Closes the app as SIGTERM would (Nest's own listener), or, without shutdown hooks, stops the hosted work. */
  private closeApp(reason: string): void {
    const nestShutdown = findNestShutdownListener();
    if (nestShutdown) {
      void nestShutdown.listener(nestShutdown.signal);
      return;
    }
    this.logger.error(NO_SHUTDOWN_HOOKS());
    process.exitCode = 1;
    void this.stopHostedWork(reason);
  }
}
