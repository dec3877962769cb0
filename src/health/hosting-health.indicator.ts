import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { HostLifetime } from '../host/host-lifetime.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { TimeProvider } from '../time/time-provider.js';
import { INVALID_CRITICAL_TASKS, INVALID_OVERDUE_PERIODS, INVALID_READINESS_IGNORE } from './health.messages.js';
import {
  assessHosting,
  criticalLateTasks,
  DEFAULT_OVERDUE_PERIODS,
  downConnections,
  lateTasks,
  type HostingHealthOptions,
  type HostingReadinessOptions,
} from './hosting-health.js';
import { OneCopy } from '../one-copy.js';

/**
 * A `@nestjs/terminus` health indicator over the hosted services: `isHealthy` is down when a
 * service is faulted or a periodic task is overdue; `isReady` is down before the host has started
 * and once it is stopping (.NET's application-lifecycle health check), so that a load balancer
 * stops sending traffic while in-flight work drains, and while a Redis connection of a queue or
 * of exclusive tasks is down.
 *
 * @example
 * ```ts
 * @Controller('health')
 * export class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly hosting: HostingHealthIndicator) {}
 *
 *   @Get() @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.hosting.isReady('lifetime'), () => this.hosting.isHealthy('hosting', { overduePeriods: 3 })]);
 *   }
 * }
 * // module: imports: [TerminusModule], providers: [HostingHealthIndicator]
 * ```
 */
@OneCopy('HostingHealthIndicator')
@Injectable()
export class HostingHealthIndicator {
  /** Made by Nest, never by app code: inject it. */
  constructor(...madeByNest: never);
  /** @internal injected by Nest */
  constructor(indicators: HealthIndicatorService, registry: HostingRegistry, lifetime: HostLifetime, time: TimeProvider);
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly registry: HostingRegistry,
    private readonly lifetime: HostLifetime,
    private readonly time: TimeProvider,
  ) {}

  /** Down when a hosted unit is faulted, or a periodic task is late by more than `overduePeriods` periods. */
  isHealthy<const Key extends string = 'hosting'>(key: Key = 'hosting' as Key, options: HostingHealthOptions = {}): HealthIndicatorResult<Key> {
    const overduePeriods = options.overduePeriods ?? DEFAULT_OVERDUE_PERIODS;
    if (typeof overduePeriods !== 'number' || !(overduePeriods >= 0) || !Number.isFinite(overduePeriods))
      throw new TypeError(INVALID_OVERDUE_PERIODS(overduePeriods));
    const statuses = this.registry.list();
    const { faulted, overdue } = assessHosting(statuses, { ...options, overduePeriods }, this.time.now()); // the host's clock: virtual in tests
    const session = this.indicators.check(key);
    if (!faulted.length && !overdue.length) return session.up({ services: statuses.length });
    return session.down({ services: statuses.length, faulted, overdue });
  }

  /**
   * Up between `HostLifetime.started` and `stopping`: not ready while starting, nor while draining.
   * Also down while a connection of a hosted unit is down (a BullMQ queue's `producer` or `worker`,
   * the `redis` of exclusive periodic tasks), with those connections named:
   * `{ status: 'down', state: 'running', connections: [{ service: 'emails', connection: 'worker', since, error }] }`.
   * Such an instance cannot enqueue, or its worker cannot fetch, until Redis is back. Units named
   * in `ignore` do not count (a queue whose outage should not take the instance out of rotation).
   *
   * Missed-run alerts: periodic tasks that are `late` are listed in the details
   * (`late: [{ name, lastSucceededAt, dueBy }]`, up or down); readiness is down while a task named
   * in `criticalTasks` (or any, for `'all'`) is late.
   */
  isReady<const Key extends string = 'lifetime'>(key: Key = 'lifetime' as Key, options: HostingReadinessOptions = {}): HealthIndicatorResult<Key> {
    if (options.ignore !== undefined && !(Array.isArray(options.ignore) && options.ignore.every((name) => typeof name === 'string')))
      throw new TypeError(INVALID_READINESS_IGNORE(options.ignore));
    const { criticalTasks } = options;
    if (criticalTasks !== undefined && criticalTasks !== 'all' && !(Array.isArray(criticalTasks) && criticalTasks.every((name) => typeof name === 'string')))
      throw new TypeError(INVALID_CRITICAL_TASKS(criticalTasks));
    const session = this.indicators.check(key);
    if (!this.lifetime.isRunning) return session.down({ state: this.lifetime.stopping.aborted ? 'stopping' : 'starting' });
    const statuses = this.registry.list();
    const connections = downConnections(statuses, options);
    const late = lateTasks(statuses);
    const lateDetails = late.length > 0 ? { late } : {};
    if (connections.length > 0) return session.down({ state: 'running', connections, ...lateDetails });
    const critical = criticalLateTasks(late, options);
    if (critical.length > 0) return session.down({ state: 'running', ...lateDetails, criticalLate: critical.map((task) => task.name) });
    return session.up({ state: 'running', ...lateDetails });
  }
}
