import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HostingExplorer } from './discovery/hosting.explorer.js';
import { HostLifetime } from './host/host-lifetime.js';
import { HostingHost } from './host/hosting.host.js';
import { bindHostingOptions, validateHostingOptions } from './host/hosting-options.validation.js';
import type { HostingOptions } from './interfaces/hosting-options.interface.js';
import {
  HostingConfigurableModule,
  HOSTING_OPTIONS,
  HOSTING_ASYNC_OPTIONS_TYPE,
  HOSTING_OPTIONS_TYPE,
} from './hosting.module-definition.js';
import { INVALID_QUEUE_ARGUMENT, INVALID_QUEUE_OPTION, NOT_AN_OPTIONS_OBJECT } from './hosting.messages.js';
import type { QueueOptions } from './interfaces/queue-options.interface.js';
import { queueNameOf, type QueueDefinition } from './queues/queue-definition.js';
import { QueueManager } from './queues/queue-manager.js';
import { validateQueueOptions } from './queues/queue-options.validation.js';
import { getQueueToken } from './queues/queue-token.js';
import { HostingRegistry } from './registry/hosting.registry.js';
import { ScopeEndHooks } from './scopes/scope-end-hooks.js';
import { ScopeFactory } from './scopes/scope-factory.js';
import { SystemdNotifier } from './systemd/systemd-notifier.js';
import { OneCopy } from './one-copy.js';
import { TimeProvider } from './time/time-provider.js';
import { WorkInterceptors } from './interception/work-interceptors.js';
import { Outbox } from './outbox/outbox.js';

/**
 * The hosted-services module. Import it once, in the root module; it is global. Decorated
 * providers anywhere in the app are found without further registration.
 *
 * @example
 * ```ts
 * @Module({ imports: [HostingModule.forRoot({ shutdownTimeoutMs: 30_000 })] })
 * export class AppModule {}
 * ```
 */
@OneCopy('HostingModule')
@Module({
  imports: [DiscoveryModule],
  providers: [
    HostingExplorer,
    HostingHost,
    HostingRegistry,
    HostLifetime,
    ScopeEndHooks,
    ScopeFactory,
    QueueManager,
    SystemdNotifier,
    WorkInterceptors,
    Outbox,
    { provide: TimeProvider, useFactory: (options?: HostingOptions) => options?.timeProvider ?? TimeProvider.system, inject: [HOSTING_OPTIONS] },
  ],
  exports: [HostingRegistry, HostLifetime, ScopeFactory, QueueManager, SystemdNotifier, TimeProvider, Outbox],
})
export class HostingModule extends HostingConfigurableModule {
  /** Registers the host with `options` (all optional); bad options fail here, naming the option and the value. */
  static forRoot(options: typeof HOSTING_OPTIONS_TYPE = {}): DynamicModule {
    validateHostingOptions(options, ['isGlobal']);
    return super.forRoot(options);
  }

  /**
   * Registers the host with options from a factory (`{ imports, inject, useFactory }`, or
   * `useClass`/`useExisting`). What the factory returns is configuration: numbers and booleans may
   * be strings (`config.get('SHUTDOWN_TIMEOUT_MS')` is `"30000"`), bound as .NET's configuration
   * binder does; anything else fails at start-up naming `HostingModule.forRootAsync`, the option and the value.
   */
  static forRootAsync(options: typeof HOSTING_ASYNC_OPTIONS_TYPE): DynamicModule {
    const definition = super.forRootAsync(options);
    definition.providers = definition.providers?.map((provider) => {
      if (typeof provider !== 'object' || !('provide' in provider) || provider.provide !== HOSTING_OPTIONS || !('useFactory' in provider)) return provider;
      const factory = provider.useFactory as (...args: unknown[]) => HostingOptions | Promise<HostingOptions>;
      return {
        ...provider,
        useFactory: async (...args: unknown[]) =>
          bindHostingOptions(await factory(...args), { where: 'HostingModule.forRootAsync', source: 'configuration' }).options,
      };
    });
    return definition;
  }

  /**
   * Declares a work queue; import the result in the module whose providers `@InjectQueue` it.
   * Give a definition from `defineQueue` (its name and item type) and the options, or the options
   * with their `name`. Options are checked here, so a typo fails when the module is defined.
   *
   * @example
   * ```ts
   * export const EMAILS = defineQueue<EmailJob>('emails');
   * @Module({ imports: [HostingModule.registerQueue(EMAILS, { capacity: 100, fullMode: 'wait' })] })
   * export class OrdersModule {}
   * ```
   */
  static registerQueue<T = unknown>(options: QueueOptions<T>): DynamicModule;
  /** Declares the queue of a `defineQueue` definition: `registerQueue(EMAILS, { capacity: 100 })`. */
  static registerQueue<T>(queue: QueueDefinition<T>, options?: Omit<QueueOptions<T>, 'name'>): DynamicModule;
  static registerQueue(queue: QueueOptions<unknown> | QueueDefinition<unknown>, settings?: Omit<QueueOptions<unknown>, 'name'>): DynamicModule {
    const options = settings === undefined ? (queue as QueueOptions<unknown>) : withDefinitionName(queue, settings);
    validateQueueOptions(options);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-trace boundary, never called
    const site = callSite(HostingModule.registerQueue);
    const token = getQueueToken(options.name);
    return {
      module: HostingQueueModule,
      providers: [
        {
          provide: token,
          useFactory: async (queues: QueueManager, outbox?: Outbox) => {
            const queue = await queues.create(options, site);
            // `enqueue(item, { transaction })` writes to the app's outbox, when forRoot has one.
            if (outbox?.configured) queue.useOutbox(outbox);
            return queue;
          },
          inject: [QueueManager, { token: Outbox, optional: true }],
        },
      ],
      exports: [token],
    };
  }
}

/** `registerQueue(definition, options)`: the options with the definition's name (which they must not carry themselves). */
function withDefinitionName(queue: QueueOptions<unknown> | QueueDefinition<unknown>, settings: object): QueueOptions<unknown> {
  const name = queueNameOf(queue as unknown);
  if (typeof name !== 'string' || name === '') throw new TypeError(INVALID_QUEUE_ARGUMENT('HostingModule.registerQueue', queue));
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw new TypeError(NOT_AN_OPTIONS_OBJECT(`HostingModule.registerQueue(${JSON.stringify(name)})`, settings));
  if ('name' in settings)
    throw new TypeError(INVALID_QUEUE_OPTION(name, 'name', 'unset (the name comes from the queue definition)', (settings as { name: unknown }).name));
  return { ...settings, name };
}

/** Where `fn` was called from (`file:line:column`), for messages that must point at the user's code. */
function callSite(fn: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, fn);
  const frame = holder.stack?.split('\n')[1]?.trim() ?? '';
  return /\(?([^()\s]+:\d+:\d+)\)?$/.exec(frame)?.[1] ?? 'an unknown place';
}

/** The module `registerQueue` returns: one per queue. */
@OneCopy('HostingQueueModule')
@Module({})
export class HostingQueueModule {}
