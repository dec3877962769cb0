import { showValue } from '../hosting.messages.js';

/** User-facing messages of the health indicator. */
export const INVALID_OVERDUE_PERIODS = (value: unknown) =>
  `HostingHealthIndicator.isHealthy: option "overduePeriods" must be a finite number of periods >= 0, got ${JSON.stringify(value) ?? String(value)}`;

export const INVALID_READINESS_IGNORE = (value: unknown) =>
  `HostingHealthIndicator.isReady: option "ignore" must be an array of hosted unit names, got ${showValue(value)}`;

export const INVALID_CRITICAL_TASKS = (value: unknown) =>
  `HostingHealthIndicator.isReady: option "criticalTasks" must be 'all' or an array of periodic task names, got ${showValue(value)}`;
