// `nest-hosting/health`: a separate entry so that @nestjs/terminus stays optional for the main one.
export { HostingHealthIndicator } from './hosting-health.indicator.js';
export type { DownConnection, HostingHealthOptions, HostingReadinessOptions, LateTask, OverdueTask } from './hosting-health.js';
