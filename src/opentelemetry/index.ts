// `nest-hosting/opentelemetry`: traces and metrics through `@opentelemetry/api` (optional peer).
export { HostingOpenTelemetryModule } from './hosting-opentelemetry.module.js';
export type { HostingOpenTelemetryOptions } from './hosting-opentelemetry.module.js';
export { HostingTracingInterceptor } from './hosting-tracing.js';
export type { HostingTracingOptions } from './hosting-tracing.js';
export { HostingMetricsInterceptor } from './hosting-metrics.js';
export type { HostingMetricsOptions } from './hosting-metrics.js';
