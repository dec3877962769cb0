import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HostingExplorer } from './discovery/hosting.explorer.js';
import { HostLifetime } from './host/host-lifetime.js';
import { HostingHost } from './host/hosting.host.js';
import { validateHostingOptions } from './host/hosting-options.validation.js';
import {
  HostingConfigurableModule,
  HOSTING_ASYNC_OPTIONS_TYPE,
  HOSTING_OPTIONS_TYPE,
} from './hosting.module-definition.js';
import type { QueueOptions } from './interfaces/queue-options.interface.js';
import { QueueManager } from './queues/queue-manager.js';
import { validateQueueOptions } from './queues/queue-options.validation.js';
import { getQueueToken } from './queues/queue-token.js';
import { HostingRegistry } from './registry/hosting.registry.js';
import { ScopeEndHooks } from './scopes/scope-end-hooks.js';
import { ScopeFactory } from './scopes/scope-factory.js';
import { SystemdNotifier } from './systemd/systemd-notifier.js';

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
@Module({
  imports: [DiscoveryModule],
  providers: [HostingExplorer, HostingHost, HostingRegistry, HostLifetime, ScopeEndHooks, ScopeFactory, QueueManager, SystemdNotifier],
  exports: [HostingRegistry, HostLifetime, ScopeFactory, QueueManager, SystemdNotifier],
})
export class HostingModule extends HostingConfigurableModule {
  /** Registers the host with `options` (all optional); bad options fail here, naming the option and the value. */
  static forRoot(options: typeof HOSTING_OPTIONS_TYPE = {}): DynamicModule {
    validateHostingOptions(options, ['isGlobal']);
    return super.forRoot(options);
  }

  /** Registers the host with options from a factory (`{ imports, inject, useFactory }`). */
  static forRootAsync(options: typeof HOSTING_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }

  /**
   * Declares a work queue; import the result in the module whose providers `@InjectQueue(name)` it.
   * Options are checked here, so a typo fails when the module is defined.
   *
   * @example
   * ```ts
   * @Module({ imports: [HostingModule.registerQueue({ name: 'emails', capacity: 100, fullMode: 'wait' })] })
   * export class OrdersModule {}
   * ```
   */
  static registerQueue<T = unknown>(options: QueueOptions<T>): DynamicModule {
    validateQueueOptions(options as QueueOptions<unknown>);
    const site = callSite(HostingModule.registerQueue);
    const token = getQueueToken(options.name);
    return {
      module: HostingQueueModule,
      providers: [{ provide: token, useFactory: (queues: QueueManager) => queues.create(options, site), inject: [QueueManager] }],
      exports: [token],
    };
  }
}

/** Where `fn` was called from (`file:line:column`), for messages that must point at the user's code. */
function callSite(fn: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, fn);
  const frame = holder.stack?.split('\n')[1]?.trim() ?? '';
  return /\(?([^()\s]+:\d+:\d+)\)?$/.exec(frame)?.[1] ?? 'an unknown place';
}

/** The module `registerQueue` returns: one per queue. */
@Module({})
export class HostingQueueModule {}
