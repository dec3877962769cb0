/** User-facing messages of the health indicator. */
export const INVALID_OVERDUE_PERIODS = (value: unknown) =>
  `HostingHealthIndicator.isHealthy: option "overduePeriods" must be a finite number of periods >= 0, got ${JSON.stringify(value) ?? String(value)}`;
