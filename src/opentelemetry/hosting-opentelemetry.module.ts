import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { OptionsValidator } from '../validation/options-validator.js';
import { OneCopy } from '../one-copy.js';
import { tracingProviders, type HostingTracingOptions } from './hosting-tracing.js';
import { metricsProviders, type HostingMetricsOptions } from './hosting-metrics.js';
import { HostingTelemetryInterceptor } from './hosting-telemetry.interceptor.js';

/** Options of `HostingOpenTelemetryModule.forRoot`. */
export interface HostingOpenTelemetryOptions {
  /** A span per tick, background service run and queue item; the trace context travels from `enqueue` to the item. `false` turns tracing off. @default true */
  tracing?: boolean | HostingTracingOptions;
  /** Counters, histograms and gauges of the hosted work through the OpenTelemetry metrics API. `false` turns metrics off. @default true */
  metrics?: boolean | HostingMetricsOptions;
}

const KNOWN_OPTIONS = ['tracing', 'metrics'] as const;
const WHERE = 'HostingOpenTelemetryModule.forRoot';

/**
 * Traces and metrics of the hosted work through `@opentelemetry/api` (an optional peer of
 * `nest-hosting`; the app brings the SDK and exporters it wants). Import it beside
 * `HostingModule.forRoot()`; both are built-in `WorkInterceptor`s, outermost in the chain.
 *
 * @example
 * ```ts
 * import { HostingOpenTelemetryModule } from 'nest-hosting/opentelemetry';
 *
 * @Module({ imports: [HostingModule.forRoot(), HostingOpenTelemetryModule.forRoot()] })
 * export class AppModule {}
 * ```
 */
@OneCopy('HostingOpenTelemetryModule')
@Module({})
export class HostingOpenTelemetryModule {
  /** Registers tracing and metrics (both on unless `false`); bad options throw a TypeError naming the option and the value. */
  static forRoot(options: HostingOpenTelemetryOptions = {}): DynamicModule {
    const check = OptionsValidator.for(WHERE, options, KNOWN_OPTIONS);
    const providers: Provider[] = [];
    const tracing = check.get('tracing');
    const metrics = check.get('metrics');
    // Both on: one interceptor runs both (one step of the chain per unit instead of two).
    const combined = tracing !== false && metrics !== false;
    if (tracing !== false) providers.push(...tracingProviders(tracing === true || tracing === undefined ? {} : tracing, `${WHERE}({ tracing })`, combined));
    if (metrics !== false) providers.push(...metricsProviders(metrics === true || metrics === undefined ? {} : metrics, `${WHERE}({ metrics })`, combined));
    if (combined) providers.push(HostingTelemetryInterceptor);
    return { module: HostingOpenTelemetryModule, global: true, providers, exports: providers };
  }
}
