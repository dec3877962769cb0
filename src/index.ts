/**
 * nest-hosting: the .NET Generic Host's hosted-services model for NestJS (background services,
 * periodic work with a DI scope per tick, work queues, graceful shutdown). Health checks are in
 * 'nest-hosting/health', the dashboard in 'nest-hosting/dashboard'.
 *
 * @packageDocumentation
 */
export { HostingModule } from './hosting.module.js';
export type { HostingEnabledOptions, HostingOptions, ServiceErrorBehavior } from './interfaces/hosting-options.interface.js';
export { BackgroundService } from './decorators/background-service.decorator.js';
export type { BackgroundServiceClass } from './decorators/background-service.decorator.js';
export type {
  BackgroundServiceOptions,
  HostedBackgroundService,
  RestartPolicy,
} from './interfaces/background-service-options.interface.js';
export { Periodic } from './decorators/periodic.decorator.js';
export type { PeriodicMethod } from './decorators/periodic.decorator.js';
export { Delayed } from './decorators/delayed.decorator.js';
export type { DelayedMethod } from './decorators/delayed.decorator.js';
export type { DelayedTaskOptions } from './interfaces/delayed-options.interface.js';
export { CronExpression } from './scheduling/cron-expression.js';
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
export type {
  MethodName,
  ProviderMethod,
  RunTimeBackgroundServiceOptions,
  RunTimePeriodicOptions,
  TaskHandler,
} from './registry/run-time-tasks.js';
export { UnknownServiceError } from './errors/unknown-service.error.js';
export { ServiceKindError } from './errors/service-kind.error.js';
export { ServiceStateError } from './errors/service-state.error.js';
export { ThrownValueError } from './errors/thrown-value.js';
export type { ConnectionState, ConnectionStatus, ServiceKind, ServiceState, ServiceStatus } from './interfaces/service-status.interface.js';
export { HostLifetime } from './host/host-lifetime.js';
export { InjectQueue } from './decorators/inject-queue.decorator.js';
export { QueueWorker } from './decorators/queue-worker.decorator.js';
export type { QueueWorkerDecorator, QueueWorkerMethod } from './decorators/queue-worker.decorator.js';
export { OnQueueEvent } from './decorators/on-queue-event.decorator.js';
export type { QueueEventDecorator, QueueEventMethod } from './decorators/on-queue-event.decorator.js';
export { defineQueue } from './queues/queue-definition.js';
export type { QueueDefinition, QueueItemOf, QueueOf } from './queues/queue-definition.js';
export { WorkQueue } from './queues/work-queue.js';
export { JobContext } from './queues/job-context.js';
export { WorkContext, WorkInterceptor } from './interception/work-interceptor.js';
export type { EnqueueContext, WorkInterceptorClass, WorkInterceptorOptions, WorkNext } from './interception/work-interceptor.js';
export { getQueueToken } from './queues/queue-token.js';
export { QueueClosedError } from './queues/errors/queue-closed.error.js';
export { QueueFullError } from './queues/errors/queue-full.error.js';
export { RateLimitedError } from './queues/errors/rate-limited.error.js';
export { QueueItemTimeoutError } from './queues/errors/queue-item-timeout.error.js';
export { QueueItemCancelledError } from './queues/errors/queue-item-cancelled.error.js';
export { QueueUnavailableError } from './queues/bullmq/queue-unavailable.error.js';
export type {
  BackoffOptions,
  BullMqBackendOptions,
  BullMqTelemetry,
  EnqueueOptions,
  EnqueueManyOptions,
  CancelResult,
  DeadLetter,
  DeadLetterPage,
  QueueEvent,
  QueueEventName,
  QueueRateLimit,
  RetentionOptions,
  QueueBackendOptions,
  QueueFullMode,
  QueueOptions,
  QueueWorkerOptions,
} from './interfaces/queue-options.interface.js';
export type { ConnectionOptions, RedisClient, RedisConnectionOptions } from './interfaces/redis-connection.interface.js';
export type { PostgresConnectionOptions, PostgresPool, PostgresPoolOptions } from './interfaces/postgres-connection.interface.js';
export { SystemdNotifier } from './systemd/systemd-notifier.js';
export { TimeProvider } from './time/time-provider.js';
export type { SystemTimeOptions, TimerHandle, WallClockJumpListener } from './time/time-provider.js';
export { OUTBOX_RELAY_NAME } from './outbox/outbox.constants.js';
export type {
  OutboxOptions,
  OutboxRelayStatus,
  OutboxStatus,
  OutboxTransaction,
  OutboxTransactionHost,
  PostgresTransactionClient,
  SqliteDatabase,
} from './interfaces/outbox-options.interface.js';
