export { HostingModule } from './hosting.module.js';
export type { HostingOptions, ServiceErrorBehavior } from './interfaces/hosting-options.interface.js';
export { BackgroundService } from './decorators/background-service.decorator.js';
export type {
  BackgroundServiceOptions,
  HostedBackgroundService,
  RestartPolicy,
} from './interfaces/background-service-options.interface.js';
export { Periodic } from './decorators/periodic.decorator.js';
export type {
  CronSchedule,
  EverySchedule,
  PeriodicSchedule,
  PeriodicTaskOptions,
} from './interfaces/periodic-options.interface.js';
export { TickContext } from './scheduling/tick-context.js';
export { ScopeFactory } from './scopes/scope-factory.js';
export { HostScope } from './scopes/host-scope.js';
export type { OnScopeEnd } from './scopes/on-scope-end.interface.js';
export { HostingRegistry } from './registry/hosting.registry.js';
export type { ServiceKind, ServiceState, ServiceStatus } from './interfaces/service-status.interface.js';
export { HostLifetime } from './host/host-lifetime.js';
