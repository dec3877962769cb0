// `nest-hosting/dashboard`: optional, off unless imported.
export { HostingDashboardModule } from './hosting-dashboard.module.js';
export { DashboardHistory } from './dashboard-history.js';
export type { DashboardHistoryOptions, HostingDashboardOptions } from './dashboard-options.interface.js';
export type { DashboardSnapshot } from './dashboard-snapshot.js';
export type { DashboardQueueSample, DashboardRun, DashboardRunOutcome, DashboardUnitHistory } from './dashboard-history.js';
export type { DashboardDeadLetter, DashboardDeadLetters } from './dashboard-dead-letters.js';
