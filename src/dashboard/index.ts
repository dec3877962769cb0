// `nest-hosting/dashboard`: optional, off unless imported.
export { HostingDashboardModule } from './hosting-dashboard.module.js';
export type { HostingDashboardOptions } from './dashboard-options.interface.js';
export type { DashboardSnapshot } from './dashboard-snapshot.js';
