import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HostingExplorer } from './discovery/hosting.explorer.js';
import { HostLifetime } from './host/host-lifetime.js';
import { HostingHost } from './host/hosting.host.js';
import {
  HostingConfigurableModule,
  HOSTING_ASYNC_OPTIONS_TYPE,
  HOSTING_OPTIONS_TYPE,
} from './hosting.module-definition.js';
import { HostingRegistry } from './registry/hosting.registry.js';
import { ScopeEndHooks } from './scopes/scope-end-hooks.js';
import { ScopeFactory } from './scopes/scope-factory.js';

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
  providers: [HostingExplorer, HostingHost, HostingRegistry, HostLifetime, ScopeEndHooks, ScopeFactory],
  exports: [HostingRegistry, HostLifetime, ScopeFactory],
})
export class HostingModule extends HostingConfigurableModule {
  /** Registers the host with `options` (all optional). */
  static forRoot(options: typeof HOSTING_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  /** Registers the host with options from a factory (`{ imports, inject, useFactory }`). */
  static forRootAsync(options: typeof HOSTING_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}
