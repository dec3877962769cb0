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
  stackOf,
} from '../hosting.messages.js';
import { MAX_TIMER_DELAY_MS } from '../hosting.constants.js';
import { HOSTING_OPTIONS } from '../hosting.module-definition.js';
import type { HostingOptions } from '../interfaces/hosting-options.interface.js';
import { HostingExplorer } from '../discovery/hosting.explorer.js';
import { QueueManager } from '../queues/queue-manager.js';
import { resolveWorkerOptions } from '../queues/queue-options.validation.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { PeriodicTimer, type TickRunner } from '../scheduling/periodic-timer.js';
import type { ExclusiveTickGate } from '../distributed/exclusive-tick-gate.js';
import { exclusiveTickRunner } from '../distributed/exclusive-tick-runner.js';
import { RedisExclusiveTickGate } from '../distributed/redis-exclusive-tick-gate.js';
import { ScopeEndHooks } from '../scopes/scope-end-hooks.js';
import { createInvoker } from '../scopes/scoped-invoker.js';
import { afterAppBootstrap } from './after-app-bootstrap.js';
import { BackgroundServiceRunner } from './background-service-runner.js';
import { HostLifetime } from './host-lifetime.js';
import { bindHostingOptions } from './hosting-options.validation.js';
import { validateBackgroundServiceOptions } from '../validation/background-service-options.validation.js';
import { awaitWithDeadline } from './shutdown-deadline.js';
import { findNestShutdownListener } from './shutdown-signals.js';

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
  private keepAlive?: NodeJS.Timeout;
  /** The Redis lock of `@Periodic({ exclusive: true })` tasks, created when there is one. */
  private exclusiveGate?: ExclusiveTickGate & { ready: Promise<void> };

  constructor(
    @Inject(HOSTING_OPTIONS) options: HostingOptions,
    private readonly explorer: HostingExplorer,
    private readonly registry: HostingRegistry,
    private readonly lifetime: HostLifetime,
    private readonly moduleRef: ModuleRef,
    private readonly hooks: ScopeEndHooks,
    private readonly queues: QueueManager,
    private readonly modules: ModulesContainer,
  ) {
    // Validated (and bound, for forRootAsync) already; checked again for a host given options another way.
    const valid = bindHostingOptions(options);
    this.options = valid.options;
    this.shutdownTimeoutMs = valid.resolved.shutdownTimeoutMs;
    lifetime.setStopRequester((reason) => this.requestStop(reason));
  }

  async onModuleInit(): Promise<void> {
    try {
      this.registerBackgroundServices();
      this.registerPeriodicTasks();
      this.registerQueues();
      await this.exclusiveGate?.ready; // ioredis missing: fail at start-up, with install guidance
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
      const runner = new BackgroundServiceRunner(
        {
          name: valid.name ?? className,
          instance: wrapper.instance as never,
          onError: valid.onError ?? this.options.onServiceError ?? 'stopHost',
          restart: valid.restart,
        },
        this.logger,
        (reason) => this.failHost(reason),
      );
      this.registry.register(runner, className);
    }
  }

  private registerPeriodicTasks(): void {
    for (const { wrapper, methodName, definition } of this.explorer.periodicTasks()) {
      if (definition.exclusive && !this.options.redis) throw new Error(EXCLUSIVE_NEEDS_REDIS(definition.owner));
      const invoke = createInvoker(wrapper, this.moduleRef, this.hooks);
      // Exclusive tasks tick on a grid anchored at epoch 0, so that every instance computes the same slots.
      const schedule = definition.createSchedule(definition.exclusive ? 0 : Date.now());
      let run: TickRunner = (context) => invoke(context, methodName, context);
      if (definition.exclusive) {
        this.exclusiveGate ??= new RedisExclusiveTickGate({ connection: this.options.redis!, logger: this.logger });
        run = exclusiveTickRunner({ name: definition.name, schedule, jitterMs: definition.jitterMs }, this.exclusiveGate, run, this.logger);
      }
      const timer = new PeriodicTimer(
        definition.name,
        schedule,
        run,
        { ...definition, connections: definition.exclusive ? () => this.exclusiveGate?.connections?.() : undefined },
        (error) => this.logger.error(TASK_FAILED('Periodic task', definition.name), stackOf(error)),
      );
      this.registry.register(timer, definition.owner);
    }
  }

  private registerQueues(): void {
    const bound = new Map<string, string>();
    for (const { wrapper, owner, metadata } of this.explorer.queueWorkers()) {
      const queue = this.queues.get(metadata.queue);
      if (!queue) throw new Error(UNKNOWN_QUEUE(owner, metadata.queue, this.queues.all().map((q) => q.name)));
      const first = bound.get(metadata.queue);
      if (first) throw new Error(DUPLICATE_WORKER(metadata.queue, first, owner));
      bound.set(metadata.queue, owner);
      queue.bindWorker({
        invoke: createInvoker(wrapper, this.moduleRef, this.hooks),
        methodName: metadata.methodName,
        options: resolveWorkerOptions(owner, metadata.options),
      });
    }
    for (const queue of this.queues.all()) {
      if (!queue.hasWorker) this.logger.warn(QUEUE_WITHOUT_WORKER(queue.name));
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
      for (const unit of this.registry.units()) unit.start();
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
    this.lifetime.notifyStopped();
    // Nest re-raises the signal after its hooks, which would end the process by that signal;
    // like .NET, exit with the code instead (0, or 1 after a stopHost failure).
    if (signal && this.options.exitAfterSignal !== false) process.once(signal, () => process.exit());
  }

  /** Signals all running work at once and awaits it together, up to the shutdown deadline. Idempotent. */
  stopHostedWork(reason: unknown): Promise<void> {
    this.stopping ??= (async () => {
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
    const busy = this.registry.units().some((unit) => unit.kind !== 'queue' || this.queues.get(unit.name)?.hasWorker);
    if (busy) this.keepAlive = setInterval(() => undefined, MAX_TIMER_DELAY_MS);
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
