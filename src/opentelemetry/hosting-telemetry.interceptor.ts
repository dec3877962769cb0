import { Inject } from '@nestjs/common';
import { context } from '@opentelemetry/api';
import { WorkInterceptor, type EnqueueContext, type WorkContext, type WorkNext } from '../interception/work-interceptor.js';
import { afterRun } from '../interception/work-interceptors.js';
import { HostingMetrics } from './hosting-metrics.js';
import { HostingTracing } from './hosting-tracing.js';

/**
 * @internal Tracing and metrics in one interceptor, as `HostingOpenTelemetryModule.forRoot()` registers
 * them when both are on: the same spans and measurements as `HostingTracingInterceptor` and
 * `HostingMetricsInterceptor`, with one step of the chain and one continuation per unit instead of
 * two (under the SDK's AsyncLocalStorage context manager, every promise costs).
 */
@WorkInterceptor({ order: -1000 })
export class HostingTelemetryInterceptor implements WorkInterceptor {
  constructor(
    @Inject(HostingTracing) private readonly tracing: HostingTracing,
    @Inject(HostingMetrics) private readonly metrics: HostingMetrics,
  ) {}

  intercept(work: WorkContext, next: WorkNext): unknown {
    const { tracing, metrics } = this;
    const { span, active } = tracing.begin(work);
    const unit = metrics.begin(work);
    const startedAt = metrics.clock();
    return afterRun(
      () => context.with(active, next),
      (failed, error) => {
        metrics.ended(unit, startedAt, work, failed, error);
        tracing.ended(span, work, failed, error);
      },
    );
  }

  interceptEnqueue(enqueue: EnqueueContext, next: () => Promise<string>): Promise<string> {
    return this.tracing.interceptEnqueue(enqueue, next);
  }
}
